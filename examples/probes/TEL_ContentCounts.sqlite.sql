-- Applications and collections at the site.
SELECT (SELECT COUNT(*) FROM CI_Applications) AS applications,
       (SELECT COUNT(*) FROM Collections)     AS collections;
