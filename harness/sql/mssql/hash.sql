-- The product's one-way hash, dbo.fnTelHash, and the functions it is made of. The rule is the one
-- harness/src/hash.rs states and harness/sql/hash_vectors.csv pins: a value is a GUID exactly
-- when .NET's Guid.Parse accepts it (formats N, D, B, P and X, white space trimmed, with .NET's
-- leniencies), and is then hashed over its 16 bytes in Guid.ToByteArray() order; any other value
-- is hashed over its UTF-16LE bytes as it is. The 32-byte SHA-256 digest is returned in base64.
--
-- The value is read as UTF-16 code units out of its bytes (CAST AS VARBINARY), never through
-- string functions, so that neither the collation nor a supplementary-character (_SC) collation
-- changes what a character is or where it stands. Installed after schema.sql; batches are
-- separated by GO lines.

-- The UTF-16 code unit at position @i (from 1) of the UTF-16LE bytes @units.
CREATE FUNCTION dbo.fnTelUnit (@units VARBINARY(MAX), @i INT)
RETURNS INT
AS
BEGIN
    RETURN CAST(SUBSTRING(@units, 2 * @i, 1) AS INT) * 256 + CAST(SUBSTRING(@units, 2 * @i - 1, 1) AS INT);
END
GO

-- 1 when .NET's char.IsWhiteSpace holds for the code unit (Unicode's White_Space), else 0.
CREATE FUNCTION dbo.fnTelIsWhiteSpace (@unit INT)
RETURNS BIT
AS
BEGIN
    RETURN CASE
        WHEN @unit BETWEEN 9 AND 13 THEN 1
        WHEN @unit BETWEEN 8192 AND 8202 THEN 1
        WHEN @unit IN (32, 133, 160, 5760, 8232, 8233, 8239, 8287, 12288) THEN 1
        ELSE 0
    END;
END
GO

-- The code units @from to @to of @units as ASCII text, one character each (any other code unit
-- becomes '?', which no GUID format accepts); with @eat = 1, white space is left out.
CREATE FUNCTION dbo.fnTelAscii (@units VARBINARY(MAX), @from INT, @to INT, @eat BIT)
RETURNS VARCHAR(MAX)
AS
BEGIN
    DECLARE @text VARCHAR(MAX) = '';
    DECLARE @unit INT;
    WHILE @from <= @to
    BEGIN
        SET @unit = dbo.fnTelUnit(@units, @from);
        IF @eat = 0 OR dbo.fnTelIsWhiteSpace(@unit) = 0
            SET @text = @text + CASE WHEN @unit < 128 THEN CHAR(@unit) ELSE '?' END;
        SET @from = @from + 1;
    END;
    RETURN @text;
END
GO

-- A number in hex, as .NET's Guid parser reads one (TryParseHex). With @lenient = 1: an optional
-- '+', then an optional 0x or 0X, then any number of leading zeros and at most 8 further hex
-- digits (nothing at all reads as 0). With @lenient = 0: hex digits only. NULL when a character
-- is not a hex digit or the number needs more than 32 bits.
CREATE FUNCTION dbo.fnTelHexValue (@text VARCHAR(MAX), @lenient BIT)
RETURNS BIGINT
AS
BEGIN
    DECLARE @n INT = DATALENGTH(@text);
    DECLARE @i INT = 1;
    DECLARE @c INT;
    DECLARE @digit INT;
    DECLARE @digits INT = 0;
    DECLARE @value BIGINT = 0;
    IF @lenient = 1 AND @n >= 1 AND ASCII(SUBSTRING(@text, 1, 1)) = 43
        SET @i = 2;
    IF @lenient = 1 AND @n > @i AND ASCII(SUBSTRING(@text, @i, 1)) = 48
        AND ASCII(SUBSTRING(@text, @i + 1, 1)) IN (88, 120)
        SET @i = @i + 2;
    WHILE @lenient = 1 AND @i <= @n AND ASCII(SUBSTRING(@text, @i, 1)) = 48
        SET @i = @i + 1;
    WHILE @i <= @n
    BEGIN
        SET @c = ASCII(SUBSTRING(@text, @i, 1));
        SET @digit = CASE
            WHEN @c BETWEEN 48 AND 57 THEN @c - 48
            WHEN @c BETWEEN 65 AND 70 THEN @c - 55
            WHEN @c BETWEEN 97 AND 102 THEN @c - 87
            ELSE -1
        END;
        IF @digit < 0
            RETURN NULL;
        SET @digits = @digits + 1;
        SET @value = @value * 16 + @digit;
        SET @i = @i + 1;
    END;
    IF @digits > 8
        RETURN NULL;
    RETURN @value;
END
GO

-- 1 when @text has 0x or 0X at position @i, else 0.
CREATE FUNCTION dbo.fnTelIsHexPrefix (@text VARCHAR(MAX), @i INT)
RETURNS BIT
AS
BEGIN
    IF @i + 1 <= DATALENGTH(@text) AND ASCII(SUBSTRING(@text, @i, 1)) = 48
        AND ASCII(SUBSTRING(@text, @i + 1, 1)) IN (88, 120)
        RETURN 1;
    RETURN 0;
END
GO

-- The 16 bytes of Guid.ToByteArray(): the first three fields little-endian (the second and third
-- cut to 16 bits), then the last eight bytes as they are.
CREATE FUNCTION dbo.fnTelGuidBytes (@a BIGINT, @b BIGINT, @c BIGINT, @rest VARBINARY(8))
RETURNS VARBINARY(16)
AS
BEGIN
    DECLARE @ab BINARY(4) = CAST(@a AS BINARY(4));
    DECLARE @bb BINARY(2) = CAST(@b % 65536 AS BINARY(2));
    DECLARE @cb BINARY(2) = CAST(@c % 65536 AS BINARY(2));
    IF @a IS NULL OR @b IS NULL OR @c IS NULL OR @rest IS NULL OR DATALENGTH(@rest) <> 8
        RETURN NULL;
    RETURN SUBSTRING(@ab, 4, 1) + SUBSTRING(@ab, 3, 1) + SUBSTRING(@ab, 2, 1) + SUBSTRING(@ab, 1, 1)
         + SUBSTRING(@bb, 2, 1) + SUBSTRING(@bb, 1, 1)
         + SUBSTRING(@cb, 2, 1) + SUBSTRING(@cb, 1, 1)
         + @rest;
END
GO

-- Format D: dddddddd-dddd-dddd-dddd-dddddddddddd. A group other than the last eight digits may,
-- as in .NET, start with '+' and 0x within its width.
CREATE FUNCTION dbo.fnTelGuidD (@text VARCHAR(MAX))
RETURNS VARBINARY(16)
AS
BEGIN
    DECLARE @de BIGINT;
    DECLARE @fg BIGINT;
    DECLARE @hijk BIGINT;
    IF DATALENGTH(@text) <> 36
        RETURN NULL;
    IF ASCII(SUBSTRING(@text, 9, 1)) <> 45 OR ASCII(SUBSTRING(@text, 14, 1)) <> 45
        OR ASCII(SUBSTRING(@text, 19, 1)) <> 45 OR ASCII(SUBSTRING(@text, 24, 1)) <> 45
        RETURN NULL;
    SET @de = dbo.fnTelHexValue(SUBSTRING(@text, 20, 4), 1);
    SET @fg = dbo.fnTelHexValue(SUBSTRING(@text, 25, 4), 1);
    SET @hijk = dbo.fnTelHexValue(SUBSTRING(@text, 29, 8), 0);
    IF @de IS NULL OR @fg IS NULL OR @hijk IS NULL
        RETURN NULL;
    RETURN dbo.fnTelGuidBytes(
        dbo.fnTelHexValue(SUBSTRING(@text, 1, 8), 1),
        dbo.fnTelHexValue(SUBSTRING(@text, 10, 4), 1),
        dbo.fnTelHexValue(SUBSTRING(@text, 15, 4), 1),
        CAST(@de AS BINARY(2)) + CAST(@fg AS BINARY(2)) + CAST(@hijk AS BINARY(4)));
END
GO

-- Format N: 32 hex digits.
CREATE FUNCTION dbo.fnTelGuidN (@text VARCHAR(MAX))
RETURNS VARBINARY(16)
AS
BEGIN
    DECLARE @d BIGINT = dbo.fnTelHexValue(SUBSTRING(@text, 17, 8), 0);
    DECLARE @h BIGINT = dbo.fnTelHexValue(SUBSTRING(@text, 25, 8), 0);
    IF DATALENGTH(@text) <> 32 OR @d IS NULL OR @h IS NULL
        RETURN NULL;
    RETURN dbo.fnTelGuidBytes(
        dbo.fnTelHexValue(SUBSTRING(@text, 1, 8), 0),
        dbo.fnTelHexValue(SUBSTRING(@text, 9, 4), 0),
        dbo.fnTelHexValue(SUBSTRING(@text, 13, 4), 0),
        CAST(@d AS BINARY(4)) + CAST(@h AS BINARY(4)));
END
GO

-- Format X, its white space already left out:
-- {0xdddddddd,0xdddd,0xdddd,{0xdd,0xdd,0xdd,0xdd,0xdd,0xdd,0xdd,0xdd}}, read as .NET's
-- TryParseExactX reads it: each number after its 0x may be short, have leading zeros, '+' and
-- another 0x; @start is where a number starts, @len its length up to the ',' or '}' after it.
CREATE FUNCTION dbo.fnTelGuidX (@text VARCHAR(MAX))
RETURNS VARBINARY(16)
AS
BEGIN
    DECLARE @n INT = DATALENGTH(@text);
    DECLARE @start INT = 4;
    DECLARE @len INT;
    DECLARE @a BIGINT;
    DECLARE @b BIGINT;
    DECLARE @c BIGINT;
    DECLARE @byte BIGINT;
    DECLARE @rest VARBINARY(8) = CAST('' AS VARBINARY(8));
    DECLARE @i INT = 0;
    IF ISNULL(ASCII(SUBSTRING(@text, 1, 1)), 0) <> 123 OR dbo.fnTelIsHexPrefix(@text, 2) = 0
        RETURN NULL;
    SET @len = CHARINDEX(',', @text COLLATE Latin1_General_BIN2, @start) - @start;
    IF @len <= 0
        RETURN NULL;
    SET @a = dbo.fnTelHexValue(SUBSTRING(@text, @start, @len), 1);
    WHILE @i < 2
    BEGIN
        IF dbo.fnTelIsHexPrefix(@text, @start + @len + 1) = 0
            RETURN NULL;
        SET @start = @start + @len + 3;
        SET @len = CHARINDEX(',', @text COLLATE Latin1_General_BIN2, @start) - @start;
        IF @len <= 0
            RETURN NULL;
        IF @i = 0
            SET @b = dbo.fnTelHexValue(SUBSTRING(@text, @start, @len), 1);
        ELSE
            SET @c = dbo.fnTelHexValue(SUBSTRING(@text, @start, @len), 1);
        SET @i = @i + 1;
    END;
    IF ISNULL(ASCII(SUBSTRING(@text, @start + @len + 1, 1)), 0) <> 123
        RETURN NULL;
    SET @len = @len + 1;
    SET @i = 0;
    WHILE @i < 8
    BEGIN
        IF dbo.fnTelIsHexPrefix(@text, @start + @len + 1) = 0
            RETURN NULL;
        SET @start = @start + @len + 3;
        SET @len = CHARINDEX(CASE WHEN @i < 7 THEN ',' ELSE '}' END, @text COLLATE Latin1_General_BIN2, @start) - @start;
        IF @len <= 0
            RETURN NULL;
        SET @byte = dbo.fnTelHexValue(SUBSTRING(@text, @start, @len), 1);
        IF @byte IS NULL OR @byte > 255
            RETURN NULL;
        SET @rest = @rest + CAST(@byte AS BINARY(1));
        SET @i = @i + 1;
    END;
    IF @start + @len + 1 <> @n OR ASCII(SUBSTRING(@text, @n, 1)) <> 125
        RETURN NULL;
    RETURN dbo.fnTelGuidBytes(@a, @b, @c, @rest);
END
GO

-- The GUID .NET's Guid.Parse makes of @value, as its Guid.ToByteArray() bytes; NULL when
-- Guid.Parse rejects it. Trims white space, then picks the format by the first character and the
-- character at the 9th or 10th position, as .NET does.
CREATE FUNCTION dbo.fnTelParseGuid (@value NVARCHAR(MAX))
RETURNS VARBINARY(16)
AS
BEGIN
    DECLARE @units VARBINARY(MAX) = CAST(@value AS VARBINARY(MAX));
    DECLARE @first INT = 1;
    DECLARE @last INT = DATALENGTH(@units) / 2;
    DECLARE @lead INT;
    WHILE @first <= @last AND dbo.fnTelIsWhiteSpace(dbo.fnTelUnit(@units, @first)) = 1
        SET @first = @first + 1;
    WHILE @last >= @first AND dbo.fnTelIsWhiteSpace(dbo.fnTelUnit(@units, @last)) = 1
        SET @last = @last - 1;
    IF @value IS NULL OR @last - @first + 1 < 32
        RETURN NULL;
    SET @lead = dbo.fnTelUnit(@units, @first);
    IF @lead IN (40, 123) AND (@lead = 40 OR dbo.fnTelUnit(@units, @first + 9) = 45)
    BEGIN
        -- P: (D), or B: {D}.
        IF @last - @first + 1 <> 38 OR dbo.fnTelUnit(@units, @last) <> @lead + CASE WHEN @lead = 40 THEN 1 ELSE 2 END
            RETURN NULL;
        RETURN dbo.fnTelGuidD(dbo.fnTelAscii(@units, @first + 1, @last - 1, 0));
    END;
    IF @lead = 123
        RETURN dbo.fnTelGuidX(dbo.fnTelAscii(@units, @first, @last, 1));
    IF dbo.fnTelUnit(@units, @first + 8) = 45
        RETURN dbo.fnTelGuidD(dbo.fnTelAscii(@units, @first, @last, 0));
    RETURN dbo.fnTelGuidN(dbo.fnTelAscii(@units, @first, @last, 0));
END
GO

-- The product's one-way hash: base64(SHA-256) of the GUID's bytes when @value is a GUID to .NET,
-- else of its UTF-16LE bytes. NULL hashes to NULL. NVARCHAR(MAX): no value is cut short.
CREATE FUNCTION dbo.fnTelHash (@value NVARCHAR(MAX))
RETURNS VARCHAR(44)
AS
BEGIN
    DECLARE @guid VARBINARY(16) = dbo.fnTelParseGuid(@value);
    -- Not ISNULL(@guid, ...): its result would take @guid's type and cut the value to 16 bytes.
    DECLARE @digest VARBINARY(32) = CASE
        WHEN @guid IS NOT NULL THEN HASHBYTES('SHA2_256', @guid)
        ELSE HASHBYTES('SHA2_256', CAST(@value AS VARBINARY(MAX)))
    END;
    RETURN CAST('' AS XML).value('xs:base64Binary(sql:variable("@digest"))', 'VARCHAR(44)');
END
GO
