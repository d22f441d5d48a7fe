SELECT COUNT(*) AS boundary_groups,
       (SELECT COUNT(*) FROM dbo.Boundaries) AS boundaries,
       COALESCE(SUM(CASE WHEN SiteSystems = 0 THEN 1 ELSE 0 END), 0) AS without_site_systems
FROM dbo.BoundaryGroups
