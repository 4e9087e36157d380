//! Formula text → tokens, each with its 1-based column (in characters).

use rust_decimal::Decimal;

use super::FormulaError;
use tally_event::exact_decimal;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Number(Decimal),
    Str(String),
    /// A bare name: a property, or a function when followed by `(`.
    Name(String),
    /// A `"double quoted"` property name, never a function or a keyword.
    Quoted(String),
    LParen,
    RParen,
    Comma,
    Star,
    Plus,
    Minus,
    Slash,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    Not,
    True,
    False,
    Null,
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) column: usize,
}

pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, FormulaError> {
    let chars: Vec<char> = text.chars().collect();
    let mut lexer = Lexer { chars, at: 0 };
    let mut tokens = Vec::new();
    loop {
        lexer.skip_whitespace();
        let column = lexer.at + 1;
        let tok = lexer.next_tok()?;
        let end = tok == Tok::End;
        tokens.push(Token { tok, column });
        if end {
            return Ok(tokens);
        }
    }
}

struct Lexer {
    chars: Vec<char>,
    at: usize,
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn peek_second(&self) -> Option<char> {
        self.chars.get(self.at + 1).copied()
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn next_tok(&mut self) -> Result<Tok, FormulaError> {
        let column = self.at + 1;
        let Some(c) = self.peek() else {
            return Ok(Tok::End);
        };
        if c.is_ascii_digit() {
            return self.number();
        }
        if c.is_ascii_alphabetic() || c == '_' {
            return Ok(self.name());
        }
        if c == '\'' || c == '"' {
            let text = self.quoted(c)?;
            return Ok(if c == '\'' {
                Tok::Str(text)
            } else {
                Tok::Quoted(text)
            });
        }
        self.at += 1;
        let two = |lexer: &mut Lexer, next: char, yes: Tok, no: Tok| {
            if lexer.peek() == Some(next) {
                lexer.at += 1;
                yes
            } else {
                no
            }
        };
        let tok = match c {
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            ',' => Tok::Comma,
            '*' => Tok::Star,
            '+' => Tok::Plus,
            '-' => Tok::Minus,
            '/' => Tok::Slash,
            '=' => two(self, '=', Tok::Eq, Tok::Eq),
            '!' if self.peek() == Some('=') => two(self, '=', Tok::Ne, Tok::Ne),
            '<' if self.peek() == Some('>') => two(self, '>', Tok::Ne, Tok::Ne),
            '<' => two(self, '=', Tok::Le, Tok::Lt),
            '>' => two(self, '=', Tok::Ge, Tok::Gt),
            other => {
                return Err(FormulaError::syntax(
                    column,
                    format!("unexpected character {other:?}"),
                ));
            }
        };
        Ok(tok)
    }

    /// `digits ["." digits]`, read exactly as a decimal.
    fn number(&mut self) -> Result<Tok, FormulaError> {
        let start = self.at;
        self.eat_digits();
        if self.peek() == Some('.') && self.peek_second().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
            self.eat_digits();
        }
        let text: String = self.chars[start..self.at].iter().collect();
        exact_decimal(&text)
            .map(Tok::Number)
            .ok_or_else(|| FormulaError::syntax(start + 1, "number does not fit a decimal"))
    }

    fn eat_digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
    }

    fn name(&mut self) -> Tok {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.at += 1;
        }
        let text: String = self.chars[start..self.at].iter().collect();
        match text.to_ascii_lowercase().as_str() {
            "and" => Tok::And,
            "or" => Tok::Or,
            "not" => Tok::Not,
            "true" => Tok::True,
            "false" => Tok::False,
            "null" => Tok::Null,
            _ => Tok::Name(text),
        }
    }

    /// A quoted string or name; the quote is escaped by doubling it (`'it''s'`).
    fn quoted(&mut self, quote: char) -> Result<String, FormulaError> {
        let column = self.at + 1;
        self.at += 1;
        let mut text = String::new();
        loop {
            match self.peek() {
                None => {
                    let what = if quote == '\'' {
                        "string"
                    } else {
                        "quoted name"
                    };
                    return Err(FormulaError::syntax(column, format!("unterminated {what}")));
                }
                Some(c) if c == quote && self.peek_second() == Some(quote) => {
                    text.push(quote);
                    self.at += 2;
                }
                Some(c) if c == quote => {
                    self.at += 1;
                    return Ok(text);
                }
                Some(c) => {
                    text.push(c);
                    self.at += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<Tok> {
        tokenize(text).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn operators_and_keywords() {
        assert_eq!(
            toks("a<>b != c == d <= e >= f AND Not x"),
            vec![
                Tok::Name("a".into()),
                Tok::Ne,
                Tok::Name("b".into()),
                Tok::Ne,
                Tok::Name("c".into()),
                Tok::Eq,
                Tok::Name("d".into()),
                Tok::Le,
                Tok::Name("e".into()),
                Tok::Ge,
                Tok::Name("f".into()),
                Tok::And,
                Tok::Not,
                Tok::Name("x".into()),
                Tok::End,
            ]
        );
    }

    #[test]
    fn strings_quoted_names_and_columns() {
        let tokens = tokenize("  'it''s' \"my key\" 12.50").unwrap();
        assert_eq!(tokens[0].tok, Tok::Str("it's".into()));
        assert_eq!(tokens[0].column, 3);
        assert_eq!(tokens[1].tok, Tok::Quoted("my key".into()));
        assert_eq!(tokens[2].column, 20);
    }

    #[test]
    fn errors_carry_the_column() {
        assert_eq!(tokenize("a + 'open").unwrap_err().column, 5);
        assert_eq!(tokenize("a # b").unwrap_err().column, 3);
        assert_eq!(tokenize("a ! b").unwrap_err().column, 3);
    }
}
