SELECT Level AS level, Mode AS mode
FROM dbo.TEL_Settings
