-- Software update groups: how many, how many updates they hold, the largest one.
SELECT COUNT(*)                    AS update_groups,
       COALESCE(SUM(members), 0)   AS memberships,
       COALESCE(MAX(members), 0)   AS largest
FROM (SELECT g.GroupID, (SELECT COUNT(*) FROM CI_UpdateGroupMembers m WHERE m.GroupID = g.GroupID) AS members
      FROM CI_UpdateGroups g);
