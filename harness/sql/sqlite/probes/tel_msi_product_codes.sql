-- The 50 most common MSI product codes among deployment types, hashed (a GUID hashes over its
-- bytes). Ties are broken by the hash.
SELECT tel_hash(ProductCode) AS product_code,
       COUNT(*)              AS deployment_types
FROM CI_DeploymentTypes
WHERE ProductCode IS NOT NULL
GROUP BY ProductCode
ORDER BY COUNT(*) DESC, tel_hash(ProductCode)
LIMIT 50;
