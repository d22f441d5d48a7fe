-- Clients by UEFI, Secure Boot and TPM state.
SELECT UEFI0         AS uefi,
       SecureBoot0   AS secure_boot,
       TPM_Enabled0  AS tpm,
       COUNT(*)      AS clients
FROM System_DISC
GROUP BY UEFI0, SecureBoot0, TPM_Enabled0;
