SELECT CAST(UEFI0 AS INT) AS uefi, CAST(SecureBoot0 AS INT) AS secure_boot, CAST(TPM_Enabled0 AS INT) AS tpm, COUNT(*) AS clients
FROM dbo.System_DISC
GROUP BY UEFI0, SecureBoot0, TPM_Enabled0
