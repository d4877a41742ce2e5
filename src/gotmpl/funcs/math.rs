//! Integer and float arithmetic of sprig, and number conversions.

use super::args::{string, to_float, to_int};
use super::{Outcome, Problem};
use crate::gotmpl::Value;

pub(super) fn int(a: &[Value]) -> Outcome {
    Ok(Value::Int(to_int(&a[0])))
}

pub(super) fn float64(a: &[Value]) -> Outcome {
    Ok(Value::Float(to_float(&a[0])))
}

/// sprig's `toDecimal`: an octal string's value (`"0777"` is 511).
pub(super) fn to_decimal(a: &[Value]) -> Outcome {
    let text = super::args::text(&a[0]);
    Ok(Value::Int(i64::from_str_radix(&text, 8).unwrap_or(0)))
}

/// `strconv.Atoi`: decimal only, what does not parse is 0.
pub(super) fn atoi(a: &[Value]) -> Outcome {
    Ok(Value::Int(string(a, 0)?.parse().unwrap_or(0)))
}

pub(super) fn add(a: &[Value]) -> Outcome {
    Ok(Value::Int(a.iter().map(to_int).fold(0i64, i64::wrapping_add)))
}

pub(super) fn add1(a: &[Value]) -> Outcome {
    Ok(Value::Int(to_int(&a[0]).wrapping_add(1)))
}

pub(super) fn sub(a: &[Value]) -> Outcome {
    Ok(Value::Int(to_int(&a[0]).wrapping_sub(to_int(&a[1]))))
}

pub(super) fn mul(a: &[Value]) -> Outcome {
    Ok(Value::Int(a.iter().map(to_int).fold(1i64, i64::wrapping_mul)))
}

fn divisor(a: &[Value]) -> Result<i64, Problem> {
    match to_int(&a[1]) {
        0 => Err(Problem::bad(1, &a[1], "integer divide by zero")),
        d => Ok(d),
    }
}

pub(super) fn div(a: &[Value]) -> Outcome {
    Ok(Value::Int(to_int(&a[0]).wrapping_div(divisor(a)?)))
}

pub(super) fn modulo(a: &[Value]) -> Outcome {
    Ok(Value::Int(to_int(&a[0]).wrapping_rem(divisor(a)?)))
}

pub(super) fn max(a: &[Value]) -> Outcome {
    Ok(Value::Int(a.iter().map(to_int).max().unwrap_or(0)))
}

pub(super) fn min(a: &[Value]) -> Outcome {
    Ok(Value::Int(a.iter().map(to_int).min().unwrap_or(0)))
}

pub(super) fn maxf(a: &[Value]) -> Outcome {
    Ok(Value::Float(
        a.iter().map(to_float).fold(f64::NEG_INFINITY, f64::max),
    ))
}

pub(super) fn minf(a: &[Value]) -> Outcome {
    Ok(Value::Float(a.iter().map(to_float).fold(f64::INFINITY, f64::min)))
}

/// A decimal number: `digits * 10^-scale`, as shopspring/decimal holds
/// the operands of sprig's float functions (so `addf 1.1 2.2` is 3.3).
#[derive(Clone, Copy)]
struct Decimal {
    digits: i128,
    scale: u32,
}

impl Decimal {
    fn of(value: &Value) -> Option<Decimal> {
        let text = crate::gotmpl::format_float(to_float(value));
        let (mantissa, exponent) = match text.split_once('e') {
            Some((m, e)) => (m.to_string(), e.parse::<i32>().ok()?),
            None => (text, 0),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((&mantissa, ""));
        let digits: i128 = format!("{whole}{fraction}").parse().ok()?;
        let scale = fraction.len() as i32 - exponent;
        if !(0..=30).contains(&scale) {
            return None;
        }
        Some(Decimal {
            digits,
            scale: scale as u32,
        })
    }

    fn rescale(self, scale: u32) -> Option<i128> {
        self.digits.checked_mul(10i128.checked_pow(scale - self.scale)?)
    }

    fn to_f64(self) -> f64 {
        format!("{}e-{}", self.digits, self.scale)
            .parse()
            .unwrap_or(f64::NAN)
    }
}

/// Folds the float operands exactly where decimals can, else in f64.
fn decimal_fold(
    a: &[Value],
    start: &Value,
    exact: fn(Decimal, Decimal) -> Option<Decimal>,
    float: fn(f64, f64) -> f64,
) -> f64 {
    let mut exact_total = Decimal::of(start);
    let mut total = to_float(start);
    for value in a {
        exact_total = match (exact_total, Decimal::of(value)) {
            (Some(x), Some(y)) => exact(x, y),
            _ => None,
        };
        total = float(total, to_float(value));
    }
    exact_total.map_or(total, Decimal::to_f64)
}

fn exact_add(x: Decimal, y: Decimal, sign: i128) -> Option<Decimal> {
    let scale = x.scale.max(y.scale);
    Some(Decimal {
        digits: x.rescale(scale)?.checked_add(sign * y.rescale(scale)?)?,
        scale,
    })
}

pub(super) fn addf(a: &[Value]) -> Outcome {
    Ok(Value::Float(decimal_fold(
        a,
        &Value::Float(0.0),
        |x, y| exact_add(x, y, 1),
        |x, y| x + y,
    )))
}

pub(super) fn add1f(a: &[Value]) -> Outcome {
    Ok(Value::Float(decimal_fold(
        &[Value::Int(1)],
        &a[0],
        |x, y| exact_add(x, y, 1),
        |x, y| x + y,
    )))
}

pub(super) fn subf(a: &[Value]) -> Outcome {
    Ok(Value::Float(decimal_fold(
        &a[1..],
        &a[0],
        |x, y| exact_add(x, y, -1),
        |x, y| x - y,
    )))
}

pub(super) fn mulf(a: &[Value]) -> Outcome {
    Ok(Value::Float(decimal_fold(
        &a[1..],
        &a[0],
        |x, y| {
            Some(Decimal {
                digits: x.digits.checked_mul(y.digits)?,
                scale: x.scale + y.scale,
            })
        },
        |x, y| x * y,
    )))
}

pub(super) fn divf(a: &[Value]) -> Outcome {
    let mut total = to_float(&a[0]);
    for value in &a[1..] {
        let divisor = to_float(value);
        if divisor == 0.0 {
            return Err(Problem::bad(1, value, "division by zero"));
        }
        total /= divisor;
    }
    Ok(Value::Float(total))
}

pub(super) fn ceil(a: &[Value]) -> Outcome {
    Ok(Value::Float(to_float(&a[0]).ceil()))
}

pub(super) fn floor(a: &[Value]) -> Outcome {
    Ok(Value::Float(to_float(&a[0]).floor()))
}

/// sprig's `round VALUE PLACES [ROUND_ON]`.
pub(super) fn round(a: &[Value]) -> Outcome {
    let round_on = a.get(2).map_or(0.5, to_float);
    let pow = 10f64.powf(to_float(&a[1]));
    let digit = pow * to_float(&a[0]);
    let rounded = if digit.fract() >= round_on {
        digit.ceil()
    } else {
        digit.floor()
    };
    Ok(Value::Float(rounded / pow))
}

/// Most items `until`, `untilStep` and `seq` make.
const MAX_ITEMS: i64 = 1_000_000;

fn until_step_ints(start: i64, stop: i64, step: i64) -> Result<Vec<i64>, Problem> {
    if step == 0 || (stop < start && step > 0) || (stop > start && step < 0) {
        return Ok(Vec::new());
    }
    let count = (stop - start) / step + i64::from((stop - start) % step != 0);
    if count > MAX_ITEMS {
        return Err(Problem::bad(
            1,
            &Value::Int(stop),
            format!("would make {count} items, more than {MAX_ITEMS}"),
        ));
    }
    Ok((0..count.max(0)).map(|i| start + i * step).collect())
}

fn ints(items: Vec<i64>) -> Value {
    Value::List(items.into_iter().map(Value::Int).collect())
}

pub(super) fn until(a: &[Value]) -> Outcome {
    let count = to_int(&a[0]);
    Ok(ints(until_step_ints(0, count, if count < 0 { -1 } else { 1 })?))
}

pub(super) fn until_step(a: &[Value]) -> Outcome {
    Ok(ints(until_step_ints(
        to_int(&a[0]),
        to_int(&a[1]),
        to_int(&a[2]),
    )?))
}

/// sprig's `seq`, as bash's: `seq END`, `seq START END`, `seq START STEP END`;
/// the numbers joined by spaces.
pub(super) fn seq(a: &[Value]) -> Outcome {
    let p: Vec<i64> = a.iter().map(to_int).collect();
    let items = match p.as_slice() {
        [end] => {
            let step = if *end < 1 { -1 } else { 1 };
            until_step_ints(1, end + step, step)?
        }
        [start, end] => {
            let step = if end < start { -1 } else { 1 };
            until_step_ints(*start, end + step, step)?
        }
        [start, step, end] => {
            let increment = if end < start { -1 } else { 1 };
            if end < start && *step > 0 {
                Vec::new()
            } else {
                until_step_ints(*start, end + increment, *step)?
            }
        }
        _ => Vec::new(),
    };
    Ok(Value::Str(
        items.iter().map(i64::to_string).collect::<Vec<_>>().join(" "),
    ))
}
