//! A strict check of T-SQL batches, for the tests. sqlparser's MsSqlDialect alone is not enough:
//! it reads `BEGIN TRY`/`END TRY` as transaction statements, ends a procedure body at the first
//! `END`, and `Parser::parse_sql` then returns what it has read with success — so a batch can
//! "parse" while everything after its first `END` was never looked at. Here sqlparser only reads
//! single statements and expressions; the control flow around them (`BEGIN … END`, `BEGIN TRY …
//! END TRY BEGIN CATCH … END CATCH`, `IF … ELSE`, `WHILE`, the body of a `CREATE PROCEDURE` or
//! `CREATE FUNCTION`) is read by this module, and every batch must be read to its last token.
//!
//! On top of that, a lint for traps that pass many parsers but fail on SQL Server:
//! - anything (even `;`) between `END TRY` and `BEGIN CATCH`;
//! - a `CREATE`/`ALTER` `PROCEDURE`, `FUNCTION`, `VIEW` or `TRIGGER` that is not the first
//!   statement of its batch;
//! - a `THROW` whose previous statement in the same block is not terminated by `;` (SQL Server
//!   then reads `THROW` as part of that statement, e.g. as a savepoint name).

use std::fmt;

use sqlparser::dialect::MsSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

/// One thing wrong with a batch, at a line and column of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// Everything wrong with one batch (a script between `GO` lines); empty when it is sound.
pub fn check_batch(sql: &str) -> Vec<Finding> {
    let dialect = MsSqlDialect {};
    let tokens = match Tokenizer::new(&dialect, sql).tokenize_with_location() {
        Ok(tokens) => tokens,
        Err(e) => {
            return vec![Finding {
                line: e.location.line,
                column: e.location.column,
                message: format!("does not tokenize: {}", e.message),
            }];
        }
    };
    let tokens: Vec<TokenWithSpan> = tokens
        .into_iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    let mut findings = lint(&tokens);
    let mut reader = Reader {
        tokens: &tokens,
        pos: 0,
        findings: Vec::new(),
    };
    if let Err(stop) = reader.batch() {
        reader.findings.push(stop);
    }
    findings.append(&mut reader.findings);
    findings.sort_by_key(|f| (f.line, f.column));
    findings.dedup();
    findings
}

fn keyword(t: Option<&TokenWithSpan>) -> Option<Keyword> {
    match t.map(|t| &t.token) {
        Some(Token::Word(w)) if w.quote_style.is_none() => Some(w.keyword),
        _ => None,
    }
}

fn at(t: &TokenWithSpan, message: impl Into<String>) -> Finding {
    Finding {
        line: t.span.start.line,
        column: t.span.start.column,
        message: message.into(),
    }
}

/// The traps, found on the token stream alone (comments and whitespace are not tokens here).
fn lint(tokens: &[TokenWithSpan]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let kw = |i: usize| keyword(tokens.get(i));
    for (i, t) in tokens.iter().enumerate() {
        if kw(i) == Some(Keyword::END)
            && kw(i + 1) == Some(Keyword::TRY)
            && !(kw(i + 2) == Some(Keyword::BEGIN) && kw(i + 3) == Some(Keyword::CATCH))
        {
            let next = tokens
                .get(i + 2)
                .map_or("the end of the batch".into(), |t| format!("`{}`", t.token));
            findings.push(at(
                t,
                format!("END TRY must be followed by BEGIN CATCH and nothing else, not by {next}"),
            ));
        }
        let object = match (kw(i), kw(i + 1), kw(i + 2)) {
            (Some(Keyword::CREATE), Some(Keyword::OR), Some(Keyword::ALTER)) => kw(i + 3),
            (Some(Keyword::CREATE), next, _) => next,
            (Some(Keyword::ALTER), next, _) if i == 0 || kw(i - 1) != Some(Keyword::OR) => next,
            _ => None,
        };
        if i > 0
            && matches!(
                object,
                Some(
                    Keyword::PROC
                        | Keyword::PROCEDURE
                        | Keyword::FUNCTION
                        | Keyword::VIEW
                        | Keyword::TRIGGER
                )
            )
        {
            findings.push(at(
                t,
                "CREATE/ALTER PROCEDURE, FUNCTION, VIEW or TRIGGER must be the first statement \
                 of its batch (put a GO line before it)",
            ));
        }
    }
    findings
}

/// Which block a statement list is inside, and so which `END` closes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Batch,
    BeginEnd,
    Try,
    Catch,
}

impl Block {
    fn closing(self) -> &'static str {
        match self {
            Block::Batch => "the end of the batch",
            Block::BeginEnd => "END",
            Block::Try => "END TRY",
            Block::Catch => "END CATCH",
        }
    }
}

/// Reads a batch token by token. An `Err` is the finding that stops the reading (the structure
/// is broken there); findings that do not stop it are collected.
struct Reader<'a> {
    tokens: &'a [TokenWithSpan],
    pos: usize,
    findings: Vec<Finding>,
}

type Read = Result<(), Finding>;

impl Reader<'_> {
    fn kw(&self, ahead: usize) -> Option<Keyword> {
        keyword(self.tokens.get(self.pos + ahead))
    }

    fn is(&self, token: &Token) -> bool {
        self.tokens.get(self.pos).is_some_and(|t| &t.token == token)
    }

    fn here(&self, message: impl Into<String>) -> Finding {
        match self.tokens.get(self.pos) {
            Some(t) => at(t, message),
            None => {
                let end = self
                    .tokens
                    .last()
                    .map_or((1, 1), |t| (t.span.end.line, t.span.end.column));
                Finding {
                    line: end.0,
                    column: end.1,
                    message: format!("{} (at the end of the batch)", message.into()),
                }
            }
        }
    }

    fn expect(&mut self, keywords: &[Keyword], what: &str) -> Read {
        for (i, k) in keywords.iter().enumerate() {
            if self.kw(i) != Some(*k) {
                return Err(self.here(format!("expected {what}")));
            }
        }
        self.pos += keywords.len();
        Ok(())
    }

    fn batch(&mut self) -> Read {
        let object = match (self.kw(0), self.kw(1), self.kw(2)) {
            (Some(Keyword::CREATE), Some(Keyword::OR), Some(Keyword::ALTER)) => self.kw(3),
            (Some(Keyword::CREATE | Keyword::ALTER), next, _) => next,
            _ => None,
        };
        match object {
            Some(Keyword::PROC | Keyword::PROCEDURE) => {
                self.header("BEGIN RETURN; END")?;
                self.list(Block::Batch)
            }
            Some(Keyword::FUNCTION) => {
                self.header("BEGIN RETURN NULL; END")?;
                if self.kw(0) == Some(Keyword::BEGIN) {
                    self.statement()?;
                } else {
                    self.simple()?;
                }
                while self.is(&Token::SemiColon) {
                    self.pos += 1;
                }
                match self.tokens.get(self.pos) {
                    None => Ok(()),
                    Some(_) => Err(self.here("a function's body must end its batch")),
                }
            }
            _ => self.list(Block::Batch),
        }
    }

    /// The header of a `CREATE PROCEDURE` or `CREATE FUNCTION`, up to its `AS`, read by
    /// sqlparser with a stand-in body after it.
    fn header(&mut self, stand_in: &str) -> Read {
        let mut depth = 0usize;
        let mut end = None;
        for (i, t) in self.tokens.iter().enumerate() {
            match &t.token {
                Token::LParen => depth += 1,
                Token::RParen => depth = depth.saturating_sub(1),
                Token::Word(w) if depth == 0 && w.keyword == Keyword::AS => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let Some(end) = end else {
            return Err(self.here("a procedure or function header ends with AS"));
        };
        let dialect = MsSqlDialect {};
        let mut tokens = self.tokens[..=end].to_vec();
        let body = Tokenizer::new(&dialect, stand_in)
            .tokenize_with_location()
            .expect("the stand-in body tokenizes");
        tokens.extend(
            body.into_iter()
                .filter(|t| !matches!(t.token, Token::Whitespace(_))),
        );
        let count = tokens.len();
        let mut parser = Parser::new(&dialect).with_tokens_with_locations(tokens);
        match parser.parse_statement() {
            Ok(_) if parser.index() >= count => {
                self.pos = end + 1;
                Ok(())
            }
            Ok(_) => Err(at(
                &self.tokens[0],
                "the procedure or function header was not read to its AS",
            )),
            Err(e) => Err(at(&self.tokens[0], format!("header does not parse: {e}"))),
        }
    }

    /// Statements up to the `END` that closes `block` (not consumed) or the end of the batch.
    fn list(&mut self, block: Block) -> Read {
        let mut unterminated = false;
        loop {
            if self.is(&Token::SemiColon) {
                self.pos += 1;
                unterminated = false;
                continue;
            }
            match self.kw(0) {
                _ if self.pos >= self.tokens.len() => {
                    return if block == Block::Batch {
                        Ok(())
                    } else {
                        Err(self.here(format!("expected {}", block.closing())))
                    };
                }
                Some(Keyword::END) => {
                    let closes = match self.kw(1) {
                        Some(Keyword::TRY) => Block::Try,
                        Some(Keyword::CATCH) => Block::Catch,
                        _ => Block::BeginEnd,
                    };
                    return if closes == block {
                        Ok(())
                    } else {
                        Err(self.here(format!(
                            "{} here, where {} was expected",
                            closes.closing(),
                            block.closing()
                        )))
                    };
                }
                Some(Keyword::THROW) if unterminated => {
                    let finding = self.here("the statement before THROW must be terminated by `;`");
                    self.findings.push(finding);
                }
                _ => {}
            }
            self.statement()?;
            unterminated = true;
        }
    }

    /// One statement, control flow included.
    fn statement(&mut self) -> Read {
        match (self.kw(0), self.kw(1)) {
            (Some(Keyword::BEGIN), Some(Keyword::TRY)) => self.try_catch(),
            (Some(Keyword::BEGIN), Some(Keyword::CATCH)) => {
                Err(self.here("BEGIN CATCH must follow END TRY directly"))
            }
            (Some(Keyword::BEGIN), Some(Keyword::TRAN | Keyword::TRANSACTION)) => self.simple(),
            (Some(Keyword::BEGIN), _) => {
                self.pos += 1;
                self.list(Block::BeginEnd)?;
                self.expect(&[Keyword::END], "END")
            }
            (Some(Keyword::IF), _) => {
                self.pos += 1;
                self.expression()?;
                self.statement()?;
                if self.is(&Token::SemiColon)
                    && keyword(self.tokens.get(self.pos + 1)) == Some(Keyword::ELSE)
                {
                    self.pos += 1;
                }
                if self.kw(0) == Some(Keyword::ELSE) {
                    self.pos += 1;
                    self.statement()?;
                }
                Ok(())
            }
            (Some(Keyword::WHILE), _) => {
                self.pos += 1;
                self.expression()?;
                self.statement()
            }
            (Some(Keyword::ELSE), _) => Err(self.here("ELSE without IF")),
            (Some(Keyword::END), _) => Err(self.here("END without BEGIN")),
            _ => self.simple(),
        }
    }

    fn try_catch(&mut self) -> Read {
        self.pos += 2;
        self.list(Block::Try)?;
        self.expect(&[Keyword::END, Keyword::TRY], "END TRY")?;
        // The lint reports what stands between END TRY and BEGIN CATCH; read on past it.
        while self.is(&Token::SemiColon) {
            self.pos += 1;
        }
        self.expect(
            &[Keyword::BEGIN, Keyword::CATCH],
            "BEGIN CATCH after END TRY",
        )?;
        self.list(Block::Catch)?;
        self.expect(&[Keyword::END, Keyword::CATCH], "END CATCH")
    }

    /// A condition of `IF` or `WHILE`, read by sqlparser.
    fn expression(&mut self) -> Read {
        let dialect = MsSqlDialect {};
        let rest = self.tokens[self.pos..].to_vec();
        let mut parser = Parser::new(&dialect).with_tokens_with_locations(rest);
        match parser.parse_expr() {
            Ok(_) => {
                self.pos += parser.index();
                Ok(())
            }
            Err(e) => Err(self.here(format!("condition does not parse: {e}"))),
        }
    }

    /// A statement without control flow, read by sqlparser; it must end where a statement can:
    /// at `;`, at the end of the batch or block, or where the next statement starts.
    fn simple(&mut self) -> Read {
        let dialect = MsSqlDialect {};
        let rest = self.tokens[self.pos..].to_vec();
        let mut parser = Parser::new(&dialect).with_tokens_with_locations(rest);
        match parser.parse_statement() {
            Ok(_) if parser.index() > 0 => {
                self.pos += parser.index();
                Ok(())
            }
            Ok(_) => Err(self.here("no statement here")),
            Err(e) => Err(self.here(format!("statement does not parse: {e}"))),
        }
    }
}
