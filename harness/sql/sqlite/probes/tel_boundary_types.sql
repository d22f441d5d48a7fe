-- Boundaries per boundary type.
SELECT BoundaryType AS boundary_type,
       COUNT(*)     AS boundaries
FROM Boundaries
GROUP BY BoundaryType;
