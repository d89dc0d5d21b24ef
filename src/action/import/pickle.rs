//! A restricted reader for the Python pickles NumPy writes with `np.save(..., allow_pickle=True)`: dicts, lists,
//! tuples, numbers, strings and NumPy arrays, nothing else. No Python code runs: the only "globals" accepted are
//! NumPy's array and dtype reconstructors, and any other is an error. Protocols 2–5.

use crate::hand::npz::{NpyData, decode_numbers, parse_npy_header};
use std::collections::HashMap;

/// A value in the pickle.
#[derive(Clone, Debug, PartialEq)]
pub enum PickleValue {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<PickleValue>),
    Tuple(Vec<PickleValue>),
    Dict(Vec<(PickleValue, PickleValue)>),
    /// A NumPy array with its numbers widened to f64 (C order).
    Array {
        shape: Vec<usize>,
        data: Vec<f64>,
    },
    /// Internal: a whitelisted global, a dtype, or an array before its state arrives.
    Global(String),
    Dtype(String),
    PendingArray,
    PendingDtype(String),
    Mark,
}

impl PickleValue {
    /// The value of a string key in a dict.
    pub fn get(&self, key: &str) -> Option<&PickleValue> {
        match self {
            PickleValue::Dict(items) => items
                .iter()
                .find(|(k, _)| matches!(k, PickleValue::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or("the pickle is truncated")?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn line(&mut self) -> Result<String, String> {
        let rest = &self.bytes[self.at..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("the pickle is truncated")?;
        let text = String::from_utf8_lossy(&rest[..end]).into_owned();
        self.at += end + 1;
        Ok(text)
    }
}

fn allowed_global(module: &str, name: &str) -> Result<String, String> {
    let numpy = matches!(
        module,
        "numpy.core.multiarray" | "numpy._core.multiarray" | "numpy"
    );
    match (numpy, name) {
        (true, "_reconstruct") | (true, "ndarray") | (true, "dtype") => Ok(name.to_owned()),
        _ => Err(format!(
            "refers to {module}.{name}; only NumPy arrays, dicts, lists and numbers are read"
        )),
    }
}

/// Parses a pickle stream (the bytes after a `.npy` header of dtype `|O`).
pub fn parse_pickle(bytes: &[u8]) -> Result<PickleValue, String> {
    let mut r = Reader { bytes, at: 0 };
    let mut stack: Vec<PickleValue> = Vec::new();
    let mut memo: HashMap<u32, PickleValue> = HashMap::new();
    let pop = |stack: &mut Vec<PickleValue>| stack.pop().ok_or("the pickle's stack underflows");
    let pop_mark = |stack: &mut Vec<PickleValue>| -> Result<Vec<PickleValue>, String> {
        let mark = stack
            .iter()
            .rposition(|v| matches!(v, PickleValue::Mark))
            .ok_or("the pickle has no mark")?;
        let items = stack.split_off(mark + 1);
        stack.pop();
        Ok(items)
    };
    let mut steps = 0usize;
    loop {
        steps += 1;
        if steps > 10_000_000 {
            return Err("the pickle is too long".into());
        }
        let op = r.u8()?;
        match op {
            0x80 => {
                r.u8()?; // PROTO
            }
            0x95 => {
                r.u64()?; // FRAME
            }
            b'.' => return pop(&mut stack).map_err(str::to_owned),
            b'(' => stack.push(PickleValue::Mark),
            b'N' => stack.push(PickleValue::None),
            0x88 => stack.push(PickleValue::Bool(true)),
            0x89 => stack.push(PickleValue::Bool(false)),
            b'J' => stack.push(PickleValue::Int(r.u32()? as i32 as i64)),
            b'K' => stack.push(PickleValue::Int(r.u8()? as i64)),
            b'M' => {
                let b = r.take(2)?;
                stack.push(PickleValue::Int(u16::from_le_bytes([b[0], b[1]]) as i64));
            }
            0x8a => {
                // LONG1: little-endian two's complement of n bytes.
                let n = r.u8()? as usize;
                let b = r.take(n)?;
                if n > 8 {
                    return Err("holds an integer wider than 64 bits".into());
                }
                let mut a = [if b.last().is_some_and(|x| x & 0x80 != 0) {
                    0xff
                } else {
                    0
                }; 8];
                a[..n].copy_from_slice(b);
                stack.push(PickleValue::Int(i64::from_le_bytes(a)));
            }
            b'G' => {
                let b = r.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                stack.push(PickleValue::Float(f64::from_be_bytes(a)));
            }
            b'X' => {
                let n = r.u32()? as usize;
                stack.push(PickleValue::Str(
                    String::from_utf8_lossy(r.take(n)?).into_owned(),
                ));
            }
            0x8c => {
                let n = r.u8()? as usize;
                stack.push(PickleValue::Str(
                    String::from_utf8_lossy(r.take(n)?).into_owned(),
                ));
            }
            0x8d => {
                let n = r.u64()? as usize;
                stack.push(PickleValue::Str(
                    String::from_utf8_lossy(r.take(n)?).into_owned(),
                ));
            }
            b'B' => {
                let n = r.u32()? as usize;
                stack.push(PickleValue::Bytes(r.take(n)?.to_vec()));
            }
            b'C' => {
                let n = r.u8()? as usize;
                stack.push(PickleValue::Bytes(r.take(n)?.to_vec()));
            }
            0x8e => {
                let n = r.u64()? as usize;
                stack.push(PickleValue::Bytes(r.take(n)?.to_vec()));
            }
            b')' => stack.push(PickleValue::Tuple(Vec::new())),
            b']' => stack.push(PickleValue::List(Vec::new())),
            b'}' => stack.push(PickleValue::Dict(Vec::new())),
            b't' => {
                let items = pop_mark(&mut stack)?;
                stack.push(PickleValue::Tuple(items));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if stack.len() < n {
                    return Err("the pickle's stack underflows".into());
                }
                let items = stack.split_off(stack.len() - n);
                stack.push(PickleValue::Tuple(items));
            }
            b'a' => {
                let item = pop(&mut stack)?;
                match stack.last_mut() {
                    Some(PickleValue::List(list)) => list.push(item),
                    _ => return Err("APPEND to something that is not a list".into()),
                }
            }
            b'e' => {
                let items = pop_mark(&mut stack)?;
                match stack.last_mut() {
                    Some(PickleValue::List(list)) => list.extend(items),
                    _ => return Err("APPENDS to something that is not a list".into()),
                }
            }
            b's' => {
                let value = pop(&mut stack)?;
                let key = pop(&mut stack)?;
                match stack.last_mut() {
                    Some(PickleValue::Dict(items)) => items.push((key, value)),
                    _ => return Err("SETITEM on something that is not a dict".into()),
                }
            }
            b'u' => {
                let items = pop_mark(&mut stack)?;
                if items.len() % 2 != 0 {
                    return Err("SETITEMS with an odd number of items".into());
                }
                let mut pairs = Vec::with_capacity(items.len() / 2);
                let mut iter = items.into_iter();
                while let (Some(k), Some(v)) = (iter.next(), iter.next()) {
                    pairs.push((k, v));
                }
                match stack.last_mut() {
                    Some(PickleValue::Dict(d)) => d.extend(pairs),
                    _ => return Err("SETITEMS on something that is not a dict".into()),
                }
            }
            b'q' => {
                let index = r.u8()? as u32;
                memo.insert(index, stack.last().cloned().ok_or("empty stack")?);
            }
            b'r' => {
                let index = r.u32()?;
                memo.insert(index, stack.last().cloned().ok_or("empty stack")?);
            }
            0x94 => {
                let index = memo.len() as u32;
                memo.insert(index, stack.last().cloned().ok_or("empty stack")?);
            }
            b'h' => {
                let index = r.u8()? as u32;
                stack.push(
                    memo.get(&index)
                        .cloned()
                        .ok_or("refers to a missing memo")?,
                );
            }
            b'j' => {
                let index = r.u32()?;
                stack.push(
                    memo.get(&index)
                        .cloned()
                        .ok_or("refers to a missing memo")?,
                );
            }
            b'c' => {
                let module = r.line()?;
                let name = r.line()?;
                stack.push(PickleValue::Global(allowed_global(&module, &name)?));
            }
            0x93 => {
                let name = pop(&mut stack)?;
                let module = pop(&mut stack)?;
                match (module, name) {
                    (PickleValue::Str(m), PickleValue::Str(n)) => {
                        stack.push(PickleValue::Global(allowed_global(&m, &n)?))
                    }
                    _ => return Err("STACK_GLOBAL without names".into()),
                }
            }
            b'R' => {
                let args = pop(&mut stack)?;
                let func = pop(&mut stack)?;
                let value = match (&func, &args) {
                    (PickleValue::Global(name), _) if name == "_reconstruct" => {
                        PickleValue::PendingArray
                    }
                    (PickleValue::Global(name), PickleValue::Tuple(items)) if name == "dtype" => {
                        match items.first() {
                            Some(PickleValue::Str(code)) => PickleValue::PendingDtype(code.clone()),
                            _ => return Err("a dtype without a type code".into()),
                        }
                    }
                    _ => return Err(format!("calls {func:?}, which is not allowed")),
                };
                stack.push(value);
            }
            b'b' => {
                let state = pop(&mut stack)?;
                let target = pop(&mut stack)?;
                let built = match (target, state) {
                    (PickleValue::PendingDtype(code), PickleValue::Tuple(items)) => {
                        let endian = match items.get(1) {
                            Some(PickleValue::Str(e)) => e.clone(),
                            _ => "|".into(),
                        };
                        let dtype = PickleValue::Dtype(format!("{endian}{code}"));
                        // BUILD changes the object in place, and the memo refers to that object: later
                        // arrays fetch the finished dtype from the memo.
                        for value in memo.values_mut() {
                            if *value == PickleValue::PendingDtype(code.clone()) {
                                *value = dtype.clone();
                            }
                        }
                        dtype
                    }
                    (PickleValue::PendingArray, PickleValue::Tuple(items)) => array(&items)?,
                    (other, _) => return Err(format!("BUILD on {other:?}, which is not allowed")),
                };
                stack.push(built);
            }
            other => {
                return Err(format!(
                    "uses pickle opcode 0x{other:02x}, which is not read"
                ));
            }
        }
    }
}

/// An ndarray from its pickled state `(version, shape, dtype, fortran, data)`.
fn array(state: &[PickleValue]) -> Result<PickleValue, String> {
    let (shape, dtype, fortran, data) = match state {
        [
            _,
            PickleValue::Tuple(shape),
            PickleValue::Dtype(dtype),
            PickleValue::Bool(f),
            data,
        ] => (shape, dtype, *f, data),
        _ => return Err("an array whose state is not (version, shape, dtype, order, data)".into()),
    };
    // An object array (np.save of a dict is a 0-d one): its data are the objects themselves.
    if dtype.get(1..2) == Some("O") {
        return match (shape.as_slice(), data) {
            ([], PickleValue::List(items)) if items.len() == 1 => Ok(items[0].clone()),
            (_, PickleValue::List(items)) => Ok(PickleValue::List(items.clone())),
            _ => Err("an object array without its objects".into()),
        };
    }
    let shape: Vec<usize> = shape
        .iter()
        .map(|d| match d {
            PickleValue::Int(n) if *n >= 0 => Ok(*n as usize),
            _ => Err("an array shape that is not sizes".to_string()),
        })
        .collect::<Result<_, _>>()?;
    let PickleValue::Bytes(bytes) = data else {
        return Err("an array whose data are not bytes (object arrays are not read)".into());
    };
    if fortran && shape.len() > 1 {
        return Err("a Fortran-order array".into());
    }
    // The same decoding as .npy files: element limit, little-endian only, length checked.
    let data =
        match decode_numbers(dtype, &shape, bytes).map_err(|e| format!("an array that {e}"))? {
            NpyData::Float(values) => values,
            NpyData::Int(values) => values.into_iter().map(|v| v as f64).collect(),
        };
    Ok(PickleValue::Array { shape, data })
}

/// Reads a `.npy` file holding a pickled object (`np.save` of a dict): the object.
pub fn parse_object_npy(bytes: &[u8]) -> Result<PickleValue, String> {
    let header = parse_npy_header(bytes)?;
    if header.descr != "|O" {
        return Err("does not hold a pickled object (its dtype is not |O)".into());
    }
    // np.save wraps the object in a 0-d object array, which `array` unwraps to the object itself.
    parse_pickle(&bytes[header.data_start..])
}
