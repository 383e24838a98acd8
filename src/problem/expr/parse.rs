//! Tokenizer and precedence-climbing parser for the objective expression language.
//!
//! Grammar (lowest to highest precedence):
//! ```text
//! sum     := product (('+' | '-') product)*
//! product := unary (('*' | '/') unary)*
//! unary   := '-' unary | '+' unary | power
//! power   := primary (('^' | '**') unary)?        -- right associative: 2^3^2 = 2^9, -x^2 = -(x^2)
//! primary := number | name | name '(' sum ')' | '(' sum ')'
//! ```
//! Numbers accept `1`, `1.5`, `.5`, `1e-3`, `2.5E+4`. `pi` is a constant.

use super::ExprError;

#[derive(Debug, Clone, PartialEq)]
pub enum Ast {
    Num(f64),
    Var(String, usize),
    Neg(Box<Ast>),
    Bin(BinOp, Box<Ast>, Box<Ast>),
    Call(String, usize, Box<Ast>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Name(String),
    Op(char),
    LParen,
    RParen,
    End,
}

struct Lexer<'a> {
    src: &'a str,
    toks: Vec<(Tok, usize)>, // token and 1-based column
}

impl<'a> Lexer<'a> {
    fn run(src: &'a str) -> Result<Vec<(Tok, usize)>, ExprError> {
        let mut lx = Lexer { src, toks: Vec::new() };
        let bytes = src.as_bytes();
        let mut i = 0;
        // Columns count characters; every token and blank below is ASCII, so a column moves
        // with the bytes consumed (counting from the start per character was quadratic:
        // 1 MB of spaces took 36 s).
        let mut col_at = 0usize;
        let mut last = 0usize;
        while i < bytes.len() {
            let c = bytes[i] as char;
            col_at += i - last;
            last = i;
            let col = col_at + 1;
            if c.is_whitespace() {
                i += 1;
            } else if c.is_ascii_digit() || (c == '.' && bytes.get(i + 1).is_some_and(|b| b.is_ascii_digit())) {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                    i += 1;
                }
                if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
                    let mut j = i + 1;
                    if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
                        j += 1;
                    }
                    if j < bytes.len() && bytes[j].is_ascii_digit() {
                        while j < bytes.len() && bytes[j].is_ascii_digit() {
                            j += 1;
                        }
                        i = j;
                    }
                }
                let text = &lx.src[start..i];
                let v: f64 = text
                    .parse()
                    .map_err(|_| ExprError::new(col, format!("malformed number '{text}'")))?;
                lx.toks.push((Tok::Num(v), col));
            } else if c.is_ascii_alphabetic() || c == '_' {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                lx.toks.push((Tok::Name(lx.src[start..i].to_string()), col));
            } else if c == '*' && bytes.get(i + 1) == Some(&b'*') {
                lx.toks.push((Tok::Op('^'), col));
                i += 2;
            } else if "+-*/^".contains(c) {
                lx.toks.push((Tok::Op(c), col));
                i += 1;
            } else if c == '(' {
                lx.toks.push((Tok::LParen, col));
                i += 1;
            } else if c == ')' {
                lx.toks.push((Tok::RParen, col));
                i += 1;
            } else {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(ExprError::new(
                    col,
                    format!("unexpected character '{ch}' (allowed: numbers, names, + - * / ^ ** and parentheses)"),
                ));
            }
        }
        lx.toks.push((Tok::End, src.chars().count() + 1));
        Ok(lx.toks)
    }
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    /// Open parentheses, calls, signs and exponents around the token being parsed: each is a
    /// level of the parser's recursion.
    nesting: u32,
}

/// Most nested parentheses, calls, unary signs and exponents: beyond, the recursion of the
/// parser, the graph and its derivatives would overflow the stack (it did at ~8,000).
pub const MAX_NESTING: u32 = 256;
/// The deepest expression tree, counting the terms of a chain such as a + b + c + … one level
/// each: the lowering and differentiation walk it recursively (a flat sum of 60,000 terms
/// overflowed the stack).
pub const MAX_DEPTH: u32 = 2_000;

/// Parse an expression into an AST. Errors carry the 1-based column.
pub fn parse(src: &str) -> Result<Ast, ExprError> {
    let toks = Lexer::run(src)?;
    let mut p = Parser { toks, pos: 0, nesting: 0 };
    let (ast, _) = p.sum()?;
    match p.peek() {
        Tok::End => Ok(ast),
        Tok::RParen => Err(ExprError::new(p.col(), "unmatched ')'")),
        t => Err(ExprError::new(p.col(), format!("expected an operator, found {}", describe(t)))),
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Num(v) => format!("number {v}"),
        Tok::Name(n) => format!("name '{n}'"),
        Tok::Op(c) => format!("'{c}'"),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::End => "end of expression".into(),
    }
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].0
    }
    fn col(&self) -> usize {
        self.toks[self.pos].1
    }
    fn next(&mut self) -> (Tok, usize) {
        let t = self.toks[self.pos].clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    /// One more level of recursion, refused past [`MAX_NESTING`].
    fn enter(&mut self) -> Result<(), ExprError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(ExprError::new(self.col(), format!("nested more than {MAX_NESTING} levels deep (parentheses, calls, signs and exponents): simplify the expression")));
        }
        Ok(())
    }

    /// A tree one level deeper than `d`, refused past [`MAX_DEPTH`].
    fn deeper(&self, d: u32, col: usize) -> Result<u32, ExprError> {
        if d + 1 > MAX_DEPTH {
            return Err(ExprError::new(col, format!("more than {MAX_DEPTH} terms or levels in one chain: split the objective into fewer, larger terms (or use least_squares / quadratic)")));
        }
        Ok(d + 1)
    }

    // Each returns the tree and its depth.
    fn sum(&mut self) -> Result<(Ast, u32), ExprError> {
        let (mut lhs, mut d) = self.product()?;
        while let Tok::Op(c @ ('+' | '-')) = *self.peek() {
            let col = self.col();
            self.next();
            let (rhs, dr) = self.product()?;
            d = self.deeper(d.max(dr), col)?;
            let op = if c == '+' { BinOp::Add } else { BinOp::Sub };
            lhs = Ast::Bin(op, Box::new(lhs), Box::new(rhs));
        }
        Ok((lhs, d))
    }

    fn product(&mut self) -> Result<(Ast, u32), ExprError> {
        let (mut lhs, mut d) = self.unary()?;
        while let Tok::Op(c @ ('*' | '/')) = *self.peek() {
            let col = self.col();
            self.next();
            let (rhs, dr) = self.unary()?;
            d = self.deeper(d.max(dr), col)?;
            let op = if c == '*' { BinOp::Mul } else { BinOp::Div };
            lhs = Ast::Bin(op, Box::new(lhs), Box::new(rhs));
        }
        Ok((lhs, d))
    }

    fn unary(&mut self) -> Result<(Ast, u32), ExprError> {
        match *self.peek() {
            Tok::Op(c @ ('-' | '+')) => {
                let col = self.col();
                self.next();
                self.enter()?;
                let (a, d) = self.unary()?;
                self.nesting -= 1;
                if c == '+' {
                    return Ok((a, d));
                }
                Ok((Ast::Neg(Box::new(a)), self.deeper(d, col)?))
            }
            _ => self.power(),
        }
    }

    fn power(&mut self) -> Result<(Ast, u32), ExprError> {
        let (base, db) = self.primary()?;
        if let Tok::Op('^') = *self.peek() {
            let col = self.col();
            self.next();
            self.enter()?;
            let (exp, de) = self.unary()?;
            self.nesting -= 1;
            return Ok((Ast::Bin(BinOp::Pow, Box::new(base), Box::new(exp)), self.deeper(db.max(de), col)?));
        }
        Ok((base, db))
    }

    fn primary(&mut self) -> Result<(Ast, u32), ExprError> {
        let (tok, col) = self.next();
        match tok {
            Tok::Num(v) => Ok((Ast::Num(v), 1)),
            Tok::Name(name) => {
                if let Tok::LParen = *self.peek() {
                    self.next();
                    self.enter()?;
                    let (arg, d) = self.sum()?;
                    self.nesting -= 1;
                    match self.next() {
                        (Tok::RParen, _) => Ok((Ast::Call(name, col, Box::new(arg)), self.deeper(d, col)?)),
                        (t, c) => Err(ExprError::new(
                            c,
                            format!("expected ')' to close the call of {name}, found {}", describe(&t)),
                        )),
                    }
                } else if super::Func::from_name(&name).is_some() {
                    Err(ExprError::new(col, format!("{name} is a function: write {name}(…), e.g. {name}(x)^2 rather than {name}^2 x")))
                } else {
                    Ok((Ast::Var(name, col), 1))
                }
            }
            Tok::LParen => {
                self.enter()?;
                let (inner, d) = self.sum()?;
                self.nesting -= 1;
                match self.next() {
                    (Tok::RParen, _) => Ok((inner, d)),
                    (t, c) => Err(ExprError::new(c, format!("expected ')', found {}", describe(&t)))),
                }
            }
            t => Err(ExprError::new(col, format!("expected a number, a name or '(', found {}", describe(&t)))),
        }
    }
}
