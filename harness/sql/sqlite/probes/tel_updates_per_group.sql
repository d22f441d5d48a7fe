-- Software update groups per number of updates in the group.
SELECT members  AS updates,
       COUNT(*) AS update_groups
FROM (SELECT g.GroupID, (SELECT COUNT(*) FROM CI_UpdateGroupMembers m WHERE m.GroupID = g.GroupID) AS members
      FROM CI_UpdateGroups g)
GROUP BY members;
