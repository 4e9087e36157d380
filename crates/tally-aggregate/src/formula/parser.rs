//! Tokens → [`Expr`] by recursive descent, one function per grammar rule (see the
//! module doc), lifting aggregates out of the outer expression as it goes.

use super::lexer::{Tok, Token, tokenize};
use super::{
    AggregateCall, AggregateFn, BinaryOp, Expr, FormulaError, Function, MAX_FORMULA_CHARS,
    MAX_NESTING,
};

pub(crate) fn parse(text: &str) -> Result<(Expr, Vec<AggregateCall>), FormulaError> {
    if text.chars().count() > MAX_FORMULA_CHARS {
        let message = format!("formula is longer than {MAX_FORMULA_CHARS} characters");
        return Err(FormulaError::syntax(1, message));
    }
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens,
        at: 0,
        depth: 0,
        in_aggregate: false,
        aggregates: Vec::new(),
    };
    let expr = parser.or()?;
    let token = parser.peek();
    if token.tok != Tok::End {
        return Err(unexpected(token, "an operator or the end"));
    }
    Ok((expr, parser.aggregates))
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
    /// Inside an aggregate's argument: names are properties, aggregates may not nest.
    in_aggregate: bool,
    aggregates: Vec<AggregateCall>,
}

fn unexpected(token: &Token, expected: &str) -> FormulaError {
    let found = match &token.tok {
        Tok::End => "the end of the formula".to_owned(),
        tok => describe(tok),
    };
    FormulaError::syntax(token.column, format!("expected {expected}, found {found}"))
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Number(n) => format!("number {n}"),
        Tok::Str(s) => format!("string '{s}'"),
        Tok::Name(n) => format!("name {n}"),
        Tok::Quoted(n) => format!("name \"{n}\""),
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
        Tok::Comma => ",".into(),
        Tok::Star => "*".into(),
        Tok::Plus => "+".into(),
        Tok::Minus => "-".into(),
        Tok::Slash => "/".into(),
        Tok::Eq => "=".into(),
        Tok::Ne => "!=".into(),
        Tok::Lt => "<".into(),
        Tok::Le => "<=".into(),
        Tok::Gt => ">".into(),
        Tok::Ge => ">=".into(),
        Tok::And => "and".into(),
        Tok::Or => "or".into(),
        Tok::Not => "not".into(),
        Tok::True => "true".into(),
        Tok::False => "false".into(),
        Tok::Null => "null".into(),
        Tok::End => "the end".into(),
    }
}

impl Parser {
    fn peek(&self) -> &Token {
        // The token list always ends with `End`, which is never consumed.
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[self.at.min(last)]
    }

    fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if token.tok != Tok::End {
            self.at += 1;
        }
        token
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<Token, FormulaError> {
        if self.peek().tok == tok {
            Ok(self.advance())
        } else {
            Err(unexpected(self.peek(), what))
        }
    }

    /// Guards recursion so that `((((…` cannot exhaust the stack.
    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, FormulaError>,
    ) -> Result<T, FormulaError> {
        if self.depth >= MAX_NESTING {
            let message = format!("formula nests more than {MAX_NESTING} levels");
            return Err(FormulaError::syntax(self.peek().column, message));
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    fn binary_chain(
        &mut self,
        next: fn(&mut Self) -> Result<Expr, FormulaError>,
        op_of: fn(&Tok) -> Option<BinaryOp>,
    ) -> Result<Expr, FormulaError> {
        let mut left = next(self)?;
        while let Some(op) = op_of(&self.peek().tok) {
            let column = self.advance().column;
            let right = next(self)?;
            left = Expr::Binary {
                op,
                left: Box::new(left),
                right: Box::new(right),
                column,
            };
        }
        Ok(left)
    }

    fn or(&mut self) -> Result<Expr, FormulaError> {
        self.binary_chain(Self::and, |tok| (*tok == Tok::Or).then_some(BinaryOp::Or))
    }

    fn and(&mut self) -> Result<Expr, FormulaError> {
        self.binary_chain(Self::not, |tok| (*tok == Tok::And).then_some(BinaryOp::And))
    }

    fn not(&mut self) -> Result<Expr, FormulaError> {
        if self.peek().tok == Tok::Not {
            self.advance();
            let operand = self.nested(Self::not)?;
            return Ok(Expr::Not(Box::new(operand)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, FormulaError> {
        let left = self.additive()?;
        let Some(op) = comparison_op(&self.peek().tok) else {
            return Ok(left);
        };
        let column = self.advance().column;
        let right = self.additive()?;
        if comparison_op(&self.peek().tok).is_some() {
            let message = "comparisons cannot be chained: use and";
            return Err(FormulaError::syntax(self.peek().column, message));
        }
        Ok(Expr::Binary {
            op,
            left: Box::new(left),
            right: Box::new(right),
            column,
        })
    }

    fn additive(&mut self) -> Result<Expr, FormulaError> {
        self.binary_chain(Self::term, |tok| match tok {
            Tok::Plus => Some(BinaryOp::Add),
            Tok::Minus => Some(BinaryOp::Sub),
            _ => None,
        })
    }

    fn term(&mut self) -> Result<Expr, FormulaError> {
        self.binary_chain(Self::unary, |tok| match tok {
            Tok::Star => Some(BinaryOp::Mul),
            Tok::Slash => Some(BinaryOp::Div),
            _ => None,
        })
    }

    fn unary(&mut self) -> Result<Expr, FormulaError> {
        if self.peek().tok == Tok::Minus {
            self.advance();
            let operand = self.nested(Self::unary)?;
            return Ok(Expr::Neg(Box::new(operand)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, FormulaError> {
        let token = self.advance();
        match token.tok {
            Tok::Number(n) => Ok(Expr::Number(n)),
            Tok::Str(s) => Ok(Expr::String(s)),
            Tok::True => Ok(Expr::Bool(true)),
            Tok::False => Ok(Expr::Bool(false)),
            Tok::Null => Ok(Expr::Null),
            Tok::LParen => {
                let inner = self.nested(Self::or)?;
                self.expect(Tok::RParen, ")")?;
                Ok(inner)
            }
            Tok::Name(name) if self.peek().tok == Tok::LParen => {
                self.nested(|p| p.call(&name, token.column))
            }
            Tok::Name(name) | Tok::Quoted(name) => self.property(name, token.column),
            _ => Err(unexpected(&token, "a value")),
        }
    }

    fn property(&self, name: String, column: usize) -> Result<Expr, FormulaError> {
        if self.in_aggregate {
            return Ok(Expr::Property(name));
        }
        let message = format!("property {name} must be inside an aggregate, e.g. sum({name})");
        Err(FormulaError::invalid(column, message))
    }

    fn call(&mut self, name: &str, column: usize) -> Result<Expr, FormulaError> {
        self.expect(Tok::LParen, "(")?;
        let lower = name.to_ascii_lowercase();
        if let Some(function) = aggregate_fn(&lower) {
            return self.aggregate(function, &lower, column);
        }
        let function = match lower.as_str() {
            "greatest" => Function::Greatest,
            "least" => Function::Least,
            "if" => Function::If,
            _ => {
                let message = format!(
                    "unknown function {name}: expected sum, count, avg, min, max, greatest, least or if"
                );
                return Err(FormulaError::invalid(column, message));
            }
        };
        let args = self.arguments()?;
        check_arity(function, &lower, args.len(), column)?;
        Ok(Expr::Call { function, args })
    }

    /// `or ( "," or )* ")"`, after the opening parenthesis.
    fn arguments(&mut self) -> Result<Vec<Expr>, FormulaError> {
        let mut args = Vec::new();
        if self.peek().tok == Tok::RParen {
            self.advance();
            return Ok(args);
        }
        loop {
            args.push(self.or()?);
            match self.advance() {
                Token {
                    tok: Tok::Comma, ..
                } => {}
                Token {
                    tok: Tok::RParen, ..
                } => return Ok(args),
                token => return Err(unexpected(&token, ", or )")),
            }
        }
    }

    fn aggregate(
        &mut self,
        function: AggregateFn,
        name: &str,
        column: usize,
    ) -> Result<Expr, FormulaError> {
        if self.in_aggregate {
            let message = format!("aggregate {name} cannot be nested in another aggregate");
            return Err(FormulaError::invalid(column, message));
        }
        let arg = if self.peek().tok == Tok::Star {
            let star = self.advance();
            if function != AggregateFn::Count {
                let message = format!("only count takes *, {name} needs an expression");
                return Err(FormulaError::invalid(star.column, message));
            }
            self.expect(Tok::RParen, ")")?;
            None
        } else {
            self.in_aggregate = true;
            let args = self.arguments();
            self.in_aggregate = false;
            let mut args = args?;
            if args.len() != 1 {
                let message = format!("{name} takes exactly one argument");
                return Err(FormulaError::invalid(column, message));
            }
            args.pop()
        };
        self.aggregates.push(AggregateCall { function, arg });
        Ok(Expr::Aggregate(self.aggregates.len() - 1))
    }
}

fn aggregate_fn(name: &str) -> Option<AggregateFn> {
    match name {
        "sum" => Some(AggregateFn::Sum),
        "count" => Some(AggregateFn::Count),
        "avg" => Some(AggregateFn::Avg),
        "min" => Some(AggregateFn::Min),
        "max" => Some(AggregateFn::Max),
        _ => None,
    }
}

fn check_arity(
    function: Function,
    name: &str,
    count: usize,
    column: usize,
) -> Result<(), FormulaError> {
    let (fits, expected) = match function {
        Function::If => (
            count == 3,
            "exactly three arguments: if(condition, then, else)",
        ),
        Function::Greatest | Function::Least => (count >= 1, "at least one argument"),
    };
    if fits {
        Ok(())
    } else {
        Err(FormulaError::invalid(
            column,
            format!("{name} takes {expected}"),
        ))
    }
}

fn comparison_op(tok: &Tok) -> Option<BinaryOp> {
    match tok {
        Tok::Eq => Some(BinaryOp::Eq),
        Tok::Ne => Some(BinaryOp::Ne),
        Tok::Lt => Some(BinaryOp::Lt),
        Tok::Le => Some(BinaryOp::Le),
        Tok::Gt => Some(BinaryOp::Gt),
        Tok::Ge => Some(BinaryOp::Ge),
        _ => None,
    }
}
