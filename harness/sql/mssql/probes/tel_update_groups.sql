SELECT COUNT(*) AS update_groups,
       COALESCE(SUM(CAST(members AS BIGINT)), 0) AS memberships,
       COALESCE(MAX(members), 0) AS largest
FROM (SELECT g.GroupID, (SELECT COUNT(*) FROM dbo.CI_UpdateGroupMembers AS m WHERE m.GroupID = g.GroupID) AS members
      FROM dbo.CI_UpdateGroups AS g) AS sized
