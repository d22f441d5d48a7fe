-- The telemetry level and the service connection point's mode.
SELECT Level AS level,
       Mode  AS mode
FROM TEL_Settings;
