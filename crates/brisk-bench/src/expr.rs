//! pgbench's `\set` expressions, the common subset: integer and double constants, `:name`
//! variables, `+ - * / %`, unary minus, parentheses, and the functions `abs`, `int`,
//! `double`, `greatest`, `least`, `mod`, `pi`, `sqrt`, `ln`, `exp`, `pow`/`power`, `random`,
//! `random_exponential`, `random_gaussian` and `random_zipfian`. Integer arithmetic stays
//! integer, as in pgbench (`5 / 2` is 2); a double anywhere makes the result a double.
//!
//! Variables are resolved to slots when the script is read, so evaluating never looks up a
//! name; a name that nothing defined before its use is an error at that line.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::random::{Prng, MIN_GAUSSIAN_PARAM, ZIPFIAN_PARAM_RANGE};

/// A variable's value. pgbench keeps strings (from `-D` or a file) as text and reads them as
/// numbers when arithmetic needs one.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Double(f64),
    Text(Arc<str>),
}

impl Default for Value {
    fn default() -> Self {
        Value::Int(0)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Double(d) => write!(f, "{d}"),
            Value::Text(t) => f.write_str(t),
        }
    }
}

impl Value {
    fn number(&self) -> Result<Value, String> {
        match self {
            Value::Text(text) => {
                let text = text.trim();
                text.parse::<i64>()
                    .map(Value::Int)
                    .or_else(|_| text.parse::<f64>().map(Value::Double))
                    .map_err(|_| format!("\"{text}\" is not a number"))
            }
            other => Ok(other.clone()),
        }
    }

    pub fn as_int(&self) -> Result<i64, String> {
        match self.number()? {
            Value::Int(i) => Ok(i),
            Value::Double(d) if d.is_finite() && d.abs() < 9.2e18 => Ok(d as i64),
            other => Err(format!("{other} does not fit in a bigint")),
        }
    }

    pub fn as_double(&self) -> Result<f64, String> {
        match self.number()? {
            Value::Int(i) => Ok(i as f64),
            Value::Double(d) => Ok(d),
            Value::Text(_) => Err("not a number".into()),
        }
    }
}

/// The names of a script's variables and their slots.
#[derive(Debug, Clone, Default)]
pub struct Variables {
    slots: HashMap<String, usize>,
}

impl Variables {
    pub fn slot(&self, name: &str) -> Option<usize> {
        self.slots.get(name).copied()
    }

    /// The slot of `name`, made if it is new.
    pub fn define(&mut self, name: &str) -> usize {
        let next = self.slots.len();
        *self.slots.entry(name.to_string()).or_insert(next)
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = (&str, usize)> {
        self.slots.iter().map(|(name, slot)| (name.as_str(), *slot))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Abs,
    Int,
    Double,
    Greatest,
    Least,
    Mod,
    Pi,
    Sqrt,
    Ln,
    Exp,
    Pow,
    Random,
    RandomExponential,
    RandomGaussian,
    RandomZipfian,
}

impl Func {
    fn named(name: &str) -> Option<Func> {
        Some(match name.to_ascii_lowercase().as_str() {
            "abs" => Func::Abs,
            "int" => Func::Int,
            "double" => Func::Double,
            "greatest" => Func::Greatest,
            "least" => Func::Least,
            "mod" => Func::Mod,
            "pi" => Func::Pi,
            "sqrt" => Func::Sqrt,
            "ln" => Func::Ln,
            "exp" => Func::Exp,
            "pow" | "power" => Func::Pow,
            "random" => Func::Random,
            "random_exponential" => Func::RandomExponential,
            "random_gaussian" => Func::RandomGaussian,
            "random_zipfian" => Func::RandomZipfian,
            _ => return None,
        })
    }

    /// The argument counts pgbench accepts: (at least, at most).
    fn arity(self) -> (usize, usize) {
        match self {
            Func::Pi => (0, 0),
            Func::Abs | Func::Int | Func::Double | Func::Sqrt | Func::Ln | Func::Exp => (1, 1),
            Func::Mod | Func::Pow | Func::Random => (2, 2),
            Func::RandomExponential | Func::RandomGaussian | Func::RandomZipfian => (3, 3),
            Func::Greatest | Func::Least => (1, usize::MAX),
        }
    }
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Const(Value),
    Var(usize),
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    Call(Func, Vec<Expr>),
}

impl Expr {
    /// Evaluates with the variables' current values. Errors are pgbench's run-time errors
    /// (division by zero, an empty range for `random`), as one line.
    pub fn eval(&self, vars: &[Value], rng: &mut Prng) -> Result<Value, String> {
        Ok(match self {
            Expr::Const(v) => v.clone(),
            Expr::Var(slot) => vars.get(*slot).cloned().unwrap_or_default(),
            Expr::Neg(e) => match e.eval(vars, rng)?.number()? {
                Value::Int(i) => Value::Int(i.checked_neg().ok_or("bigint out of range")?),
                Value::Double(d) => Value::Double(-d),
                Value::Text(_) => unreachable_text(),
            },
            Expr::Bin(op, a, b) => binary(
                *op,
                a.eval(vars, rng)?.number()?,
                b.eval(vars, rng)?.number()?,
            )?,
            Expr::Call(func, args) => {
                let mut values = Vec::with_capacity(args.len());
                for arg in args {
                    values.push(arg.eval(vars, rng)?);
                }
                call(*func, &values, rng)?
            }
        })
    }
}

/// `number()` never returns text; a constant keeps the match total without a panic.
fn unreachable_text() -> Value {
    Value::Int(0)
}

fn binary(op: BinOp, a: Value, b: Value) -> Result<Value, String> {
    if let (Value::Int(x), Value::Int(y)) = (&a, &b) {
        let (x, y) = (*x, *y);
        let result = match op {
            BinOp::Add => x.checked_add(y),
            BinOp::Sub => x.checked_sub(y),
            BinOp::Mul => x.checked_mul(y),
            BinOp::Div | BinOp::Mod if y == 0 => return Err("division by zero".into()),
            // pgbench: INT64_MIN / -1 overflows, INT64_MIN % -1 is 0.
            BinOp::Div => x.checked_div(y),
            BinOp::Mod => Some(x.checked_rem(y).unwrap_or(0)),
        };
        return result.map(Value::Int).ok_or("bigint out of range".into());
    }
    let (x, y) = (a.as_double()?, b.as_double()?);
    Ok(Value::Double(match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        BinOp::Div if y == 0.0 => return Err("division by zero".into()),
        BinOp::Div => x / y,
        BinOp::Mod => return Err("% needs integers".into()),
    }))
}

fn call(func: Func, args: &[Value], rng: &mut Prng) -> Result<Value, String> {
    let int = |i: usize| args.get(i).ok_or("missing argument".to_string())?.as_int();
    let double = |i: usize| {
        args.get(i)
            .ok_or("missing argument".to_string())?
            .as_double()
    };
    let range = |name: &str| -> Result<(i64, i64), String> {
        let (min, max) = (int(0)?, int(1)?);
        if min > max {
            return Err(format!("empty range given to {name}: [{min}, {max}]"));
        }
        Ok((min, max))
    };
    Ok(match func {
        Func::Pi => Value::Double(std::f64::consts::PI),
        Func::Abs => match args.first().ok_or("missing argument")?.number()? {
            Value::Int(i) => Value::Int(i.checked_abs().ok_or("bigint out of range")?),
            Value::Double(d) => Value::Double(d.abs()),
            Value::Text(_) => unreachable_text(),
        },
        Func::Int => Value::Int(int(0)?),
        Func::Double => Value::Double(double(0)?),
        Func::Sqrt => Value::Double(double(0)?.sqrt()),
        Func::Ln => Value::Double(double(0)?.ln()),
        Func::Exp => Value::Double(double(0)?.exp()),
        Func::Pow => Value::Double(double(0)?.powf(double(1)?)),
        Func::Mod => binary(BinOp::Mod, Value::Int(int(0)?), Value::Int(int(1)?))?,
        Func::Greatest | Func::Least => {
            let mut best = args.first().ok_or("missing argument")?.number()?;
            // pgbench returns a double as soon as one argument is a double.
            let mut any_double = matches!(best, Value::Double(_));
            for arg in &args[1..] {
                let arg = arg.number()?;
                any_double |= matches!(arg, Value::Double(_));
                let (a, b) = (arg.as_double()?, best.as_double()?);
                if (func == Func::Greatest && a > b) || (func == Func::Least && a < b) {
                    best = arg;
                }
            }
            if any_double {
                Value::Double(best.as_double()?)
            } else {
                best
            }
        }
        Func::Random => {
            let (min, max) = range("random")?;
            Value::Int(rng.uniform(min, max))
        }
        Func::RandomExponential => {
            let (min, max) = range("random_exponential")?;
            let p = double(2)?;
            if p <= 0.0 {
                return Err(format!(
                    "exponential parameter must be greater than zero (got {p})"
                ));
            }
            Value::Int(rng.exponential(min, max, p))
        }
        Func::RandomGaussian => {
            let (min, max) = range("random_gaussian")?;
            let p = double(2)?;
            if p < MIN_GAUSSIAN_PARAM {
                return Err(format!(
                    "gaussian parameter must be at least {MIN_GAUSSIAN_PARAM} (got {p})"
                ));
            }
            Value::Int(rng.gaussian(min, max, p))
        }
        Func::RandomZipfian => {
            let (min, max) = range("random_zipfian")?;
            let s = double(2)?;
            let (low, high) = ZIPFIAN_PARAM_RANGE;
            if !(low..=high).contains(&s) {
                return Err(format!(
                    "zipfian parameter must be in range [{low}, {high}] (got {s})"
                ));
            }
            Value::Int(rng.zipfian(min, max, s))
        }
    })
}

/// Parses an expression; `vars` resolves `:name` (undefined names are an error).
pub fn parse(text: &str, vars: &Variables) -> Result<Expr, String> {
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        vars,
    };
    let expr = parser.sum()?;
    match parser.tokens.get(parser.pos) {
        None => Ok(expr),
        Some(token) => Err(format!("unexpected {token} in expression")),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Int(i64),
    Double(f64),
    Ident(String),
    Var(String),
    Op(char),
    Open,
    Close,
    Comma,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Int(i) => write!(f, "\"{i}\""),
            Token::Double(d) => write!(f, "\"{d}\""),
            Token::Ident(name) => write!(f, "\"{name}\""),
            Token::Var(name) => write!(f, "\":{name}\""),
            Token::Op(c) => write!(f, "\"{c}\""),
            Token::Open => f.write_str("\"(\""),
            Token::Close => f.write_str("\")\""),
            Token::Comma => f.write_str("\",\""),
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii()
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            ',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            '+' | '-' | '*' | '/' | '%' => {
                tokens.push(Token::Op(c));
                i += 1;
            }
            ':' => {
                let start = i + 1;
                let mut end = start;
                while chars.get(end).is_some_and(|&c| is_name_char(c)) {
                    end += 1;
                }
                if end == start {
                    return Err("\":\" must be followed by a variable name".into());
                }
                tokens.push(Token::Var(chars[start..end].iter().collect()));
                i = end;
            }
            c if c.is_ascii_digit() || c == '.' => {
                let start = i;
                let mut is_double = false;
                while let Some(&d) = chars.get(i) {
                    if d.is_ascii_digit() {
                        i += 1;
                    } else if d == '.' {
                        is_double = true;
                        i += 1;
                    } else if (d == 'e' || d == 'E') && i > start {
                        is_double = true;
                        i += 1;
                        if matches!(chars.get(i), Some('+') | Some('-')) {
                            i += 1;
                        }
                    } else {
                        break;
                    }
                }
                let number: String = chars[start..i].iter().collect();
                tokens.push(if is_double {
                    Token::Double(
                        number
                            .parse()
                            .map_err(|_| format!("\"{number}\" is not a number"))?,
                    )
                } else {
                    Token::Int(
                        number
                            .parse()
                            .map_err(|_| format!("\"{number}\" is out of range for a bigint"))?,
                    )
                });
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while chars.get(i).is_some_and(|&c| is_name_char(c)) {
                    i += 1;
                }
                tokens.push(Token::Ident(chars[start..i].iter().collect()));
            }
            other => {
                return Err(format!(
                    "\"{other}\" is not supported in \\set expressions by brisk (arithmetic, parentheses and functions are)"
                ))
            }
        }
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    vars: &'a Variables,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn sum(&mut self) -> Result<Expr, String> {
        let mut left = self.product()?;
        while let Some(Token::Op(c @ ('+' | '-'))) = self.peek() {
            let op = if *c == '+' { BinOp::Add } else { BinOp::Sub };
            self.pos += 1;
            left = Expr::Bin(op, Box::new(left), Box::new(self.product()?));
        }
        Ok(left)
    }

    fn product(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while let Some(Token::Op(c @ ('*' | '/' | '%'))) = self.peek() {
            let op = match c {
                '*' => BinOp::Mul,
                '/' => BinOp::Div,
                _ => BinOp::Mod,
            };
            self.pos += 1;
            left = Expr::Bin(op, Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        match self.peek() {
            Some(Token::Op('-')) => {
                self.pos += 1;
                Ok(Expr::Neg(Box::new(self.unary()?)))
            }
            Some(Token::Op('+')) => {
                self.pos += 1;
                self.unary()
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Token::Int(i)) => Ok(Expr::Const(Value::Int(i))),
            Some(Token::Double(d)) => Ok(Expr::Const(Value::Double(d))),
            Some(Token::Var(name)) => self
                .vars
                .slot(&name)
                .map(Expr::Var)
                .ok_or_else(|| format!("undefined variable :{name}")),
            Some(Token::Open) => {
                let inner = self.sum()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err("missing \")\"".into()),
                }
            }
            Some(Token::Ident(name)) => {
                let func = Func::named(&name).ok_or_else(|| {
                    format!("function \"{name}\" is not supported by brisk's \\set")
                })?;
                if self.next() != Some(Token::Open) {
                    return Err(format!("\"{name}\" needs \"(\""));
                }
                let mut args = Vec::new();
                if self.peek() == Some(&Token::Close) {
                    self.pos += 1;
                } else {
                    loop {
                        args.push(self.sum()?);
                        match self.next() {
                            Some(Token::Comma) => continue,
                            Some(Token::Close) => break,
                            _ => {
                                return Err(format!("missing \")\" after the arguments of {name}"))
                            }
                        }
                    }
                }
                let (least, most) = func.arity();
                if args.len() < least || args.len() > most {
                    return Err(format!(
                        "{name} takes {} argument(s), got {}",
                        if least == most {
                            least.to_string()
                        } else {
                            format!("at least {least}")
                        },
                        args.len()
                    ));
                }
                Ok(Expr::Call(func, args))
            }
            Some(token) => Err(format!("unexpected {token} in expression")),
            None => Err("the expression ends too early".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str) -> Result<Value, String> {
        let mut vars = Variables::default();
        vars.define("scale");
        let expr = parse(text, &vars)?;
        expr.eval(&[Value::Int(10)], &mut Prng::seeded(1))
    }

    #[test]
    fn arithmetic_follows_pgbench() {
        assert_eq!(eval("1 + 2 * 3"), Ok(Value::Int(7)));
        assert_eq!(eval("(1 + 2) * 3"), Ok(Value::Int(9)));
        assert_eq!(eval("7 / 2"), Ok(Value::Int(3)));
        assert_eq!(eval("-7 % 3"), Ok(Value::Int(-1)));
        assert_eq!(eval("7.0 / 2"), Ok(Value::Double(3.5)));
        assert_eq!(eval("100000 * :scale"), Ok(Value::Int(1_000_000)));
        assert_eq!(eval("- -3"), Ok(Value::Int(3)));
        assert_eq!(eval("greatest(1, 5, 3)"), Ok(Value::Int(5)));
        assert_eq!(eval("least(4, 2.5)"), Ok(Value::Double(2.5)));
        assert_eq!(eval("abs(-4)"), Ok(Value::Int(4)));
        assert_eq!(eval("int(3.9)"), Ok(Value::Int(3)));
        assert_eq!(eval("mod(10, 4)"), Ok(Value::Int(2)));
        assert_eq!(eval("pow(2, 10)"), Ok(Value::Double(1024.0)));
    }

    #[test]
    fn random_stays_in_range() {
        let mut vars = Variables::default();
        vars.define("scale");
        let expr = parse("random(1, 100000 * :scale)", &vars).unwrap();
        let mut rng = Prng::seeded(4);
        for _ in 0..10_000 {
            match expr.eval(&[Value::Int(2)], &mut rng) {
                Ok(Value::Int(v)) => assert!((1..=200_000).contains(&v)),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn errors_are_one_line_messages() {
        assert_eq!(eval("1 / 0"), Err("division by zero".into()));
        assert!(eval("random(5, 1)").unwrap_err().contains("empty range"));
        assert!(eval("random_zipfian(1, 10, 0.5)")
            .unwrap_err()
            .contains("zipfian parameter"));
        assert!(eval("random_gaussian(1, 10, 1)")
            .unwrap_err()
            .contains("gaussian parameter"));
        assert!(eval(":nope + 1")
            .unwrap_err()
            .contains("undefined variable :nope"));
        assert!(eval("hash(1)").unwrap_err().contains("hash"));
        assert!(eval("1 +").unwrap_err().contains("ends too early"));
        assert!(eval("random(1)").unwrap_err().contains("takes 2"));
        assert!(eval("1 < 2").unwrap_err().contains("not supported"));
        assert!(eval("(1 + 2").unwrap_err().contains("missing"));
    }

    #[test]
    fn text_values_read_as_numbers() {
        let mut vars = Variables::default();
        vars.define("n");
        let expr = parse(":n * 2", &vars).unwrap();
        let value = expr.eval(&[Value::Text("21".into())], &mut Prng::seeded(1));
        assert_eq!(value, Ok(Value::Int(42)));
        let value = expr.eval(&[Value::Text("abc".into())], &mut Prng::seeded(1));
        assert!(value.is_err());
    }
}
