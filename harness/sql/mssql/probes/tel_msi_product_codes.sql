SELECT TOP (50) dbo.fnTelHash(ProductCode) AS product_code, COUNT(*) AS deployment_types
FROM dbo.CI_DeploymentTypes
WHERE ProductCode IS NOT NULL
GROUP BY ProductCode
ORDER BY COUNT(*) DESC, dbo.fnTelHash(ProductCode) COLLATE Latin1_General_BIN2
