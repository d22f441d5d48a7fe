SELECT members AS updates, COUNT(*) AS update_groups
FROM (SELECT g.GroupID, (SELECT COUNT(*) FROM dbo.CI_UpdateGroupMembers AS m WHERE m.GroupID = g.GroupID) AS members
      FROM dbo.CI_UpdateGroups AS g) AS sized
GROUP BY members
