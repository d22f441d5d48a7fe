SELECT BoundaryType AS boundary_type, COUNT(*) AS boundaries
FROM dbo.Boundaries
GROUP BY BoundaryType
