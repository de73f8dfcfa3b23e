//! A BERT encoder for sentence embeddings on the CPU, written for the shapes support traffic has:
//! one short message at a time when serving, a few dozen passages at a time when ingesting.
//!
//! Why not a general tensor library: for a twelve-token message the matrix products are small,
//! and a general library spends most of its time around them (an allocation and a dispatch per
//! operation, padding every text of a batch to the longest). Here the sequences of a batch are
//! packed end to end without padding (rows of one matrix, so every dense layer is one large
//! product), attention runs per sequence and head, weights are transposed once at load into the
//! layout the matrix kernel reads fastest, and the query, key and value projections are fused
//! into one product. The dense products run on the kernels of [`panels`] (AVX-512 or AVX2, chosen
//! at run time); attention's small per-head products on the `gemm` crate's.
//!
//! The arithmetic is the reference BERT's (post-norm layers, exact erf GELU, mean pooling over
//! the tokens, unit length); `tests::matches_the_reference_implementation` holds it to candle's
//! implementation of the same model.

use crate::EmbedError;
use gemm::Parallelism;
use rayon::prelude::*;
use safetensors::{Dtype, SafeTensors};
use std::path::Path;

/// The hyper-parameters read from a model's `config.json`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct BertConfig {
    /// Width of every token vector.
    pub hidden_size: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Width of the feed-forward block.
    pub intermediate_size: usize,
    /// Longest sequence the position table covers.
    pub max_position_embeddings: usize,
    /// Layer-norm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Activation of the feed-forward block; only the exact `gelu` is supported.
    #[serde(default = "default_act")]
    pub hidden_act: String,
}

fn default_eps() -> f64 {
    1e-12
}

fn default_act() -> String {
    "gelu".into()
}

/// Layer normalisation parameters.
struct Norm {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

/// A dense layer, `y = x·W + b`, with `W` (`[inputs, outputs]`) stored as panels of 16 output
/// columns, each panel's `inputs × 16` values contiguous: the order the kernel reads them.
/// (With the `gemm-dense` feature, `W` is stored row-major for the `gemm` crate instead.)
struct Dense {
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

struct Layer {
    /// Query, key and value projections side by side: `[hidden, 3·hidden]`.
    qkv: Dense,
    attention_out: Dense,
    attention_norm: Norm,
    up: Dense,
    down: Dense,
    output_norm: Norm,
}

/// BERT weights in memory, ready to encode token ids.
pub struct BertEncoder {
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    embedding_norm: Norm,
    layers: Vec<Layer>,
    hidden: usize,
    heads: usize,
    eps: f32,
    max_positions: usize,
    vocabulary: usize,
}

fn model_err(e: impl std::fmt::Display) -> EmbedError {
    EmbedError::Model(e.to_string())
}

struct Weights<'a> {
    tensors: SafeTensors<'a>,
}

impl Weights<'_> {
    /// A tensor as f32 values, checked against the shape the config implies.
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, EmbedError> {
        let view = ["", "bert."]
            .iter()
            .find_map(|prefix| self.tensors.tensor(&format!("{prefix}{name}")).ok())
            .ok_or_else(|| EmbedError::Model(format!("weights file has no tensor {name}")))?;
        if view.dtype() != Dtype::F32 || view.shape() != shape {
            return Err(EmbedError::Model(format!(
                "tensor {name} is {:?} {:?}, expected F32 {shape:?}",
                view.dtype(),
                view.shape()
            )));
        }
        Ok(view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    fn norm(&self, prefix: &str, width: usize) -> Result<Norm, EmbedError> {
        Ok(Norm {
            weight: self.get(&format!("{prefix}.weight"), &[width])?,
            bias: self.get(&format!("{prefix}.bias"), &[width])?,
        })
    }

    /// Several `[outputs, inputs]` linear layers over the same input, fused side by side.
    fn dense(
        &self,
        prefixes: &[String],
        inputs: usize,
        outputs: usize,
    ) -> Result<Dense, EmbedError> {
        let total = outputs * prefixes.len();
        let mut weight = vec![0.0; inputs * total];
        let mut bias = Vec::with_capacity(total);
        for (part, prefix) in prefixes.iter().enumerate() {
            let w = self.get(&format!("{prefix}.weight"), &[outputs, inputs])?;
            for (o, row) in w.chunks_exact(inputs).enumerate() {
                for (i, value) in row.iter().enumerate() {
                    weight[weight_index(inputs, total, part * outputs + o, i)] = *value;
                }
            }
            bias.extend(self.get(&format!("{prefix}.bias"), &[outputs])?);
        }
        Ok(Dense {
            weight,
            bias,
            inputs,
            outputs: total,
        })
    }
}

impl BertEncoder {
    /// Load `config.json` and `model.safetensors` from `dir`.
    pub fn load(dir: &Path) -> Result<BertEncoder, EmbedError> {
        let config: BertConfig =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).map_err(model_err)?)
                .map_err(model_err)?;
        if config.hidden_act != "gelu" {
            return Err(EmbedError::Model(format!(
                "activation {} is not supported (only the exact gelu)",
                config.hidden_act
            )));
        }
        if config.num_attention_heads == 0
            || !config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
        {
            return Err(EmbedError::Model(format!(
                "{} heads do not divide a hidden size of {}",
                config.num_attention_heads, config.hidden_size
            )));
        }
        let file = std::fs::File::open(dir.join("model.safetensors")).map_err(model_err)?;
        // SAFETY: the weights file is mapped read-only, copied out below and unmapped on return.
        let mapped = unsafe { memmap2::Mmap::map(&file) }.map_err(model_err)?;
        let weights = Weights {
            tensors: SafeTensors::deserialize(&mapped).map_err(model_err)?,
        };
        let h = config.hidden_size;
        let vocabulary = weights
            .tensors
            .tensor("embeddings.word_embeddings.weight")
            .or_else(|_| {
                weights
                    .tensors
                    .tensor("bert.embeddings.word_embeddings.weight")
            })
            .map_err(model_err)?
            .shape()
            .first()
            .copied()
            .unwrap_or(0);
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for l in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{l}");
            let attention = |part: &str| format!("{p}.attention.self.{part}");
            layers.push(Layer {
                qkv: weights.dense(
                    &[attention("query"), attention("key"), attention("value")],
                    h,
                    h,
                )?,
                attention_out: weights.dense(&[format!("{p}.attention.output.dense")], h, h)?,
                attention_norm: weights.norm(&format!("{p}.attention.output.LayerNorm"), h)?,
                up: weights.dense(
                    &[format!("{p}.intermediate.dense")],
                    h,
                    config.intermediate_size,
                )?,
                down: weights.dense(&[format!("{p}.output.dense")], config.intermediate_size, h)?,
                output_norm: weights.norm(&format!("{p}.output.LayerNorm"), h)?,
            });
        }
        Ok(BertEncoder {
            word: weights.get("embeddings.word_embeddings.weight", &[vocabulary, h])?,
            position: weights.get(
                "embeddings.position_embeddings.weight",
                &[config.max_position_embeddings, h],
            )?,
            token_type: weights.get("embeddings.token_type_embeddings.weight", &[2, h])?[..h]
                .to_vec(),
            embedding_norm: weights.norm("embeddings.LayerNorm", h)?,
            layers,
            hidden: h,
            heads: config.num_attention_heads,
            eps: config.layer_norm_eps as f32,
            max_positions: config.max_position_embeddings,
            vocabulary,
        })
    }

    /// Width of the sentence vectors.
    pub fn dimension(&self) -> usize {
        self.hidden
    }

    /// Longest sequence (in tokens, specials included) the model accepts.
    pub fn max_positions(&self) -> usize {
        self.max_positions
    }

    /// One unit-length, mean-pooled sentence vector per token sequence (each with its `[CLS]`
    /// and `[SEP]`, no padding). Sequences are packed into one matrix; `threads` > 1 splits the
    /// products and the attention heads over the rayon pool.
    pub fn encode(
        &self,
        sequences: &[&[u32]],
        threads: usize,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let h = self.hidden;
        let mut segments = Vec::with_capacity(sequences.len());
        let mut rows = 0;
        for ids in sequences {
            if ids.is_empty() || ids.len() > self.max_positions {
                return Err(EmbedError::Model(format!(
                    "a sequence of {} tokens (1 to {} accepted)",
                    ids.len(),
                    self.max_positions
                )));
            }
            if let Some(bad) = ids.iter().find(|&&id| id as usize >= self.vocabulary) {
                return Err(EmbedError::Model(format!(
                    "token id {bad} outside the vocabulary"
                )));
            }
            segments.push(rows..rows + ids.len());
            rows += ids.len();
        }
        let parallelism = if threads > 1 {
            Parallelism::Rayon(threads)
        } else {
            Parallelism::None
        };

        // Embeddings: word + position + token type 0, normalised.
        let mut x = vec![0.0f32; rows * h];
        for (ids, segment) in sequences.iter().zip(&segments) {
            for (position, (&id, row)) in ids
                .iter()
                .zip(x[segment.start * h..segment.end * h].chunks_exact_mut(h))
                .enumerate()
            {
                let word = &self.word[id as usize * h..][..h];
                let place = &self.position[position * h..][..h];
                for (((out, w), p), t) in row.iter_mut().zip(word).zip(place).zip(&self.token_type)
                {
                    *out = w + p + t;
                }
            }
        }
        layer_norm(&mut x, &self.embedding_norm, self.eps);

        let mut buffers = Buffers::new(rows, h, self.layers.first().map_or(0, |l| l.up.outputs));
        for layer in &self.layers {
            self.layer(layer, &mut x, &segments, &mut buffers, parallelism);
        }

        // Mean over each sequence's tokens, then unit length.
        Ok(segments
            .iter()
            .map(|segment| {
                let mut mean = vec![0.0f32; h];
                for row in x[segment.start * h..segment.end * h].chunks_exact(h) {
                    for (m, v) in mean.iter_mut().zip(row) {
                        *m += v;
                    }
                }
                let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                mean.iter_mut().for_each(|m| *m /= norm);
                mean
            })
            .collect())
    }

    fn layer(
        &self,
        layer: &Layer,
        x: &mut [f32],
        segments: &[std::ops::Range<usize>],
        b: &mut Buffers,
        parallelism: Parallelism,
    ) {
        let (h, rows) = (self.hidden, b.rows);
        let head_width = h / self.heads;
        let scale = 1.0 / (head_width as f32).sqrt();
        dense(&layer.qkv, x, rows, &mut b.qkv, parallelism);

        // Attention per head (in parallel when allowed), each head's context written head-major.
        let qkv = &b.qkv;
        let attend = |head: usize, context: &mut [f32]| {
            let mut scores = Vec::new();
            for segment in segments {
                let n = segment.len();
                scores.clear();
                scores.resize(n * n, 0.0);
                let base = segment.start * 3 * h + head * head_width;
                // SAFETY: every index below stays inside `qkv` ([rows, 3h]), `scores` ([n, n])
                // and `context` ([rows, head_width]) for the strides given.
                unsafe {
                    // scores = Q_h · K_hᵀ
                    gemm::gemm(
                        n,
                        n,
                        head_width,
                        scores.as_mut_ptr(),
                        1,
                        n as isize,
                        false,
                        qkv.as_ptr().add(base),
                        1,
                        (3 * h) as isize,
                        qkv.as_ptr().add(base + h),
                        (3 * h) as isize,
                        1,
                        0.0,
                        scale,
                        false,
                        false,
                        false,
                        Parallelism::None,
                    );
                }
                for row in scores.chunks_exact_mut(n) {
                    softmax(row);
                }
                // SAFETY: as above.
                unsafe {
                    // context = P · V_h
                    gemm::gemm(
                        n,
                        head_width,
                        n,
                        context.as_mut_ptr().add(segment.start * head_width),
                        1,
                        head_width as isize,
                        false,
                        scores.as_ptr(),
                        1,
                        n as isize,
                        qkv.as_ptr().add(base + 2 * h),
                        1,
                        (3 * h) as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        Parallelism::None,
                    );
                }
            }
        };
        let per_head = rows * head_width;
        // A short message's heads are microseconds of work each: not worth a hand-off.
        if matches!(parallelism, Parallelism::None) || rows < 64 {
            for (head, context) in b.heads.chunks_exact_mut(per_head).enumerate() {
                attend(head, context);
            }
        } else {
            b.heads
                .par_chunks_exact_mut(per_head)
                .enumerate()
                .for_each(|(head, context)| attend(head, context));
        }
        // Head-major → token-major.
        for (head, context) in b.heads.chunks_exact(per_head).enumerate() {
            for (row, values) in context.chunks_exact(head_width).enumerate() {
                b.context[row * h + head * head_width..][..head_width].copy_from_slice(values);
            }
        }

        dense(
            &layer.attention_out,
            &b.context,
            rows,
            &mut b.attended,
            parallelism,
        );
        add(&mut b.attended, x);
        layer_norm(&mut b.attended, &layer.attention_norm, self.eps);

        dense(
            &layer.up,
            &b.attended,
            rows,
            &mut b.intermediate,
            parallelism,
        );
        gelu_all(&mut b.intermediate, parallelism);
        dense(&layer.down, &b.intermediate, rows, x, parallelism);
        add(x, &b.attended);
        layer_norm(x, &layer.output_norm, self.eps);
    }
}

/// Scratch space for one forward pass.
struct Buffers {
    rows: usize,
    qkv: Vec<f32>,
    heads: Vec<f32>,
    context: Vec<f32>,
    attended: Vec<f32>,
    intermediate: Vec<f32>,
}

impl Buffers {
    fn new(rows: usize, hidden: usize, intermediate: usize) -> Buffers {
        Buffers {
            rows,
            qkv: vec![0.0; rows * 3 * hidden],
            heads: vec![0.0; rows * hidden],
            context: vec![0.0; rows * hidden],
            attended: vec![0.0; rows * hidden],
            intermediate: vec![0.0; rows * intermediate],
        }
    }
}

/// Where `W[input][output]` of a `[inputs, outputs]` weight matrix is kept: in the panel
/// layout the hand-written kernels read.
#[cfg(not(feature = "gemm-dense"))]
fn weight_index(inputs: usize, _outputs: usize, output: usize, input: usize) -> usize {
    panels::panel_index(inputs, output, input)
}

/// Where `W[input][output]` is kept for the `gemm` crate: row-major.
#[cfg(feature = "gemm-dense")]
fn weight_index(_inputs: usize, outputs: usize, output: usize, input: usize) -> usize {
    input * outputs + output
}

/// `out = x·W + b` for `rows` rows.
fn dense(layer: &Dense, x: &[f32], rows: usize, out: &mut [f32], parallelism: Parallelism) {
    debug_assert_eq!(x.len(), rows * layer.inputs);
    debug_assert_eq!(out.len(), rows * layer.outputs);
    for row in out.chunks_exact_mut(layer.outputs) {
        row.copy_from_slice(&layer.bias);
    }
    #[cfg(feature = "gemm-dense")]
    {
        assert!(x.len() == rows * layer.inputs && out.len() == rows * layer.outputs);
        // SAFETY: `out` is [rows, outputs], `x` [rows, inputs] and the weights [inputs,
        // outputs], all row-major, as the strides say; the assert bounds them.
        unsafe {
            gemm::gemm(
                rows,
                layer.outputs,
                layer.inputs,
                out.as_mut_ptr(),
                1,
                layer.outputs as isize,
                true,
                x.as_ptr(),
                1,
                layer.inputs as isize,
                layer.weight.as_ptr(),
                1,
                layer.outputs as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
    }
    #[cfg(not(feature = "gemm-dense"))]
    self::dense_on_panels(layer, x, rows, out, parallelism);
}

/// `out += x·W` on the hand-written panel kernels.
#[cfg(not(feature = "gemm-dense"))]
fn dense_on_panels(
    layer: &Dense,
    x: &[f32],
    rows: usize,
    out: &mut [f32],
    parallelism: Parallelism,
) {
    let threads = match parallelism {
        Parallelism::None => 1,
        Parallelism::Rayon(n) => n.max(1),
    };
    panels::multiply_add(
        x,
        &layer.weight,
        out,
        rows,
        layer.inputs,
        layer.outputs,
        threads,
    );
}

/// `out += x·W` with `W` pre-arranged in panels of 16 columns (see [`Dense`]). A general kernel
/// would re-pack `W` on every call, which for one short message costs more than the products;
/// here each panel is streamed once per six rows held in registers, and the panels are split
/// across threads.
#[cfg_attr(feature = "gemm-dense", allow(dead_code))]
mod panels {
    /// Columns per panel (two AVX registers).
    pub(super) const WIDTH: usize = 16;
    /// Rows multiplied together against one panel.
    const ROWS: usize = 6;

    /// Where `W[input][output]` lives in the panel layout of a `[inputs, n]` matrix.
    pub(super) fn panel_index(inputs: usize, output: usize, input: usize) -> usize {
        (output / WIDTH) * inputs * WIDTH + input * WIDTH + output % WIDTH
    }

    /// A pointer that may cross to the other thread; the two halves write disjoint columns.
    #[derive(Clone, Copy)]
    struct Out(*mut f32);
    // SAFETY: each thread writes only its own panels' columns of the output.
    unsafe impl Send for Out {}
    unsafe impl Sync for Out {}

    impl Out {
        /// The pointer (a method, so closures capture the whole `Send` wrapper).
        fn get(self) -> *mut f32 {
            self.0
        }
    }

    pub(super) fn multiply_add(
        x: &[f32],
        w: &[f32],
        out: &mut [f32],
        rows: usize,
        k: usize,
        n: usize,
        threads: usize,
    ) {
        assert!(
            n.is_multiple_of(WIDTH),
            "layer widths are multiples of {WIDTH}"
        );
        assert!(x.len() == rows * k && w.len() == k * n && out.len() == rows * n);
        let count = n / WIDTH;
        let out = Out(out.as_mut_ptr());
        let run = |from: usize, to: usize| {
            // SAFETY: the asserts above bound every index touched; each SIMD path runs only
            // where the CPU has its instructions.
            unsafe {
                #[cfg(target_arch = "x86_64")]
                if std::is_x86_feature_detected!("avx512f") {
                    return avx512(x.as_ptr(), w.as_ptr(), out.get(), rows, k, n, from..to);
                }
                #[cfg(target_arch = "x86_64")]
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    return avx2(x.as_ptr(), w.as_ptr(), out.get(), rows, k, n, from..to);
                }
                portable(x.as_ptr(), w.as_ptr(), out.get(), rows, k, n, from..to)
            }
        };
        if threads > 1 && count >= 8 {
            // An even split, so the AVX-512 kernel's panel pairs stay whole on both sides.
            let middle = count / 4 * 2;
            rayon::join(|| run(0, middle), || run(middle, count));
        } else {
            run(0, count);
        }
    }

    /// The same arithmetic without SIMD, for CPUs without AVX2.
    unsafe fn portable(
        x: *const f32,
        w: *const f32,
        out: *mut f32,
        rows: usize,
        k: usize,
        n: usize,
        panels: std::ops::Range<usize>,
    ) {
        for panel in panels {
            let wp = w.add(panel * k * WIDTH);
            for row in 0..rows {
                let mut acc = [0.0f32; WIDTH];
                for depth in 0..k {
                    let v = *x.add(row * k + depth);
                    for (j, a) in acc.iter_mut().enumerate() {
                        *a += v * *wp.add(depth * WIDTH + j);
                    }
                }
                for (j, a) in acc.iter().enumerate() {
                    *out.add(row * n + panel * WIDTH + j) += a;
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2(
        x: *const f32,
        w: *const f32,
        out: *mut f32,
        rows: usize,
        k: usize,
        n: usize,
        panels: std::ops::Range<usize>,
    ) {
        for panel in panels {
            let wp = w.add(panel * k * WIDTH);
            let mut first = 0;
            while first + ROWS <= rows {
                block::<ROWS>(
                    x.add(first * k),
                    wp,
                    out.add(first * n + panel * WIDTH),
                    k,
                    n,
                );
                first += ROWS;
            }
            let left = (x.add(first * k), out.add(first * n + panel * WIDTH));
            match rows - first {
                5 => block::<5>(left.0, wp, left.1, k, n),
                4 => block::<4>(left.0, wp, left.1, k, n),
                3 => block::<3>(left.0, wp, left.1, k, n),
                2 => block::<2>(left.0, wp, left.1, k, n),
                1 => block::<1>(left.0, wp, left.1, k, n),
                _ => {}
            }
        }
    }

    /// `R` rows (row stride `k` in `x`, `n` in `out`) times one panel, accumulated in registers.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn block<const R: usize>(
        x: *const f32,
        wp: *const f32,
        out: *mut f32,
        k: usize,
        n: usize,
    ) {
        use std::arch::x86_64::*;
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        for depth in 0..k {
            let w0 = _mm256_loadu_ps(wp.add(depth * WIDTH));
            let w1 = _mm256_loadu_ps(wp.add(depth * WIDTH + 8));
            for (r, acc) in acc.iter_mut().enumerate() {
                let v = _mm256_broadcast_ss(&*x.add(r * k + depth));
                acc[0] = _mm256_fmadd_ps(v, w0, acc[0]);
                acc[1] = _mm256_fmadd_ps(v, w1, acc[1]);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let op = out.add(r * n);
            _mm256_storeu_ps(op, _mm256_add_ps(_mm256_loadu_ps(op), acc[0]));
            _mm256_storeu_ps(op.add(8), _mm256_add_ps(_mm256_loadu_ps(op.add(8)), acc[1]));
        }
    }

    /// Rows multiplied together against a pair of panels by the AVX-512 kernel: 24 of the 32
    /// vector registers accumulate, two hold the panels' values at the current depth.
    #[cfg(target_arch = "x86_64")]
    const ROWS_512: usize = 12;

    /// The AVX-512 kernel: one 16-wide register per row and panel, two panels side by side, so
    /// each row's broadcast value feeds two multiply-adds and each loaded panel value twelve.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn avx512(
        x: *const f32,
        w: *const f32,
        out: *mut f32,
        rows: usize,
        k: usize,
        n: usize,
        panels: std::ops::Range<usize>,
    ) {
        let mut panel = panels.start;
        while panel < panels.end {
            let wp = w.add(panel * k * WIDTH);
            let pair = panel + 1 < panels.end;
            let mut first = 0;
            macro_rules! block {
                ($rows:expr) => {{
                    let (xr, or) = (x.add(first * k), out.add(first * n + panel * WIDTH));
                    if pair {
                        block512::<$rows, 2>(xr, wp, or, k, n)
                    } else {
                        block512::<$rows, 1>(xr, wp, or, k, n)
                    }
                }};
            }
            while first + ROWS_512 <= rows {
                block!(ROWS_512);
                first += ROWS_512;
            }
            match rows - first {
                11 => block!(11),
                10 => block!(10),
                9 => block!(9),
                8 => block!(8),
                7 => block!(7),
                6 => block!(6),
                5 => block!(5),
                4 => block!(4),
                3 => block!(3),
                2 => block!(2),
                1 => block!(1),
                _ => {}
            }
            panel += if pair { 2 } else { 1 };
        }
    }

    /// `R` rows times `P` consecutive panels (each `k · WIDTH` values further on), accumulated in
    /// 16-wide registers.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn block512<const R: usize, const P: usize>(
        x: *const f32,
        wp: *const f32,
        out: *mut f32,
        k: usize,
        n: usize,
    ) {
        use std::arch::x86_64::*;
        let mut acc = [[_mm512_setzero_ps(); P]; R];
        let mut values = [_mm512_setzero_ps(); P];
        for depth in 0..k {
            for (p, value) in values.iter_mut().enumerate() {
                *value = _mm512_loadu_ps(wp.add(p * k * WIDTH + depth * WIDTH));
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let v = _mm512_set1_ps(*x.add(r * k + depth));
                for (a, value) in acc.iter_mut().zip(&values) {
                    *a = _mm512_fmadd_ps(v, *value, *a);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (p, a) in acc.iter().enumerate() {
                let op = out.add(r * n + p * WIDTH);
                _mm512_storeu_ps(op, _mm512_add_ps(_mm512_loadu_ps(op), *a));
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// Every kernel against the textbook product, for every remainder of six and of twelve rows.
        #[test]
        fn every_kernel_computes_the_product() {
            let (k, n) = (37, 144); // nine panels: the threaded split runs too
            let value = |i: usize| ((i * 7_919 % 1_000) as f32 - 500.0) / 250.0;
            let w_rows: Vec<f32> = (0..k * n).map(|i| value(i + 3)).collect();
            let mut w = vec![0.0; k * n];
            for input in 0..k {
                for output in 0..n {
                    w[panel_index(k, output, input)] = w_rows[input * n + output];
                }
            }
            for rows in 1..=25 {
                let x: Vec<f32> = (0..rows * k).map(value).collect();
                let expected: Vec<f32> = (0..rows * n)
                    .map(|i| {
                        (0..k)
                            .map(|d| x[i / n * k + d] * w_rows[d * n + i % n])
                            .sum::<f32>()
                            + 1.0
                    })
                    .collect();
                let mut kernels = vec![];
                // SAFETY: the buffers have the sizes the kernels index.
                unsafe {
                    let mut out = vec![1.0; rows * n];
                    portable(
                        x.as_ptr(),
                        w.as_ptr(),
                        out.as_mut_ptr(),
                        rows,
                        k,
                        n,
                        0..n / WIDTH,
                    );
                    kernels.push(out);
                    #[cfg(target_arch = "x86_64")]
                    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
                    {
                        let mut out = vec![1.0; rows * n];
                        avx2(
                            x.as_ptr(),
                            w.as_ptr(),
                            out.as_mut_ptr(),
                            rows,
                            k,
                            n,
                            0..n / WIDTH,
                        );
                        kernels.push(out);
                    }
                    #[cfg(target_arch = "x86_64")]
                    if std::is_x86_feature_detected!("avx512f") {
                        // Nine panels in one go (four pairs and a lone one), then cut after the
                        // first so the lone panel comes first.
                        for cut in [0, 1] {
                            let mut out = vec![1.0; rows * n];
                            for panels in [0..cut, cut..n / WIDTH] {
                                avx512(
                                    x.as_ptr(),
                                    w.as_ptr(),
                                    out.as_mut_ptr(),
                                    rows,
                                    k,
                                    n,
                                    panels,
                                );
                            }
                            kernels.push(out);
                        }
                    }
                }
                let mut threaded = vec![1.0; rows * n];
                multiply_add(&x, &w, &mut threaded, rows, k, n, 2);
                kernels.push(threaded);
                for out in kernels {
                    for (got, want) in out.iter().zip(&expected) {
                        assert!((got - want).abs() < 1e-3, "{rows} rows: {got} vs {want}");
                    }
                }
            }
        }
    }
}

fn add(into: &mut [f32], other: &[f32]) {
    into.iter_mut().zip(other).for_each(|(a, b)| *a += b);
}

fn layer_norm(x: &mut [f32], norm: &Norm, eps: f32) {
    let width = norm.weight.len();
    for row in x.chunks_exact_mut(width) {
        let mean = row.iter().sum::<f32>() / width as f32;
        let variance = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / width as f32;
        let inverse = 1.0 / (variance + eps).sqrt();
        for ((v, w), b) in row.iter_mut().zip(&norm.weight).zip(&norm.bias) {
            *v = (*v - mean) * inverse * w + b;
        }
    }
}

fn softmax(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    row.iter_mut().for_each(|v| *v /= sum);
}

/// The exact GELU, `x · Φ(x)`, over a whole buffer: split across the threads when allowed, and
/// on 8-wide vectors where the CPU has AVX2 ([`erf`] is branch-free so the loop vectorises).
fn gelu_all(values: &mut [f32], parallelism: Parallelism) {
    /// Values per task: big enough to outweigh a hand-off, small enough to share the work.
    const SHARE: usize = 1 << 14;
    if matches!(parallelism, Parallelism::Rayon(n) if n > 1) && values.len() >= 4 * SHARE {
        values.par_chunks_mut(SHARE).for_each(gelu_slice);
    } else {
        gelu_slice(values);
    }
}

fn gelu_slice(values: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: runs only where the CPU has AVX2 and FMA.
        return unsafe { gelu_avx2(values) };
    }
    values.iter_mut().for_each(|v| *v = gelu(*v));
}

/// The same loop, compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gelu_avx2(values: &mut [f32]) {
    values.iter_mut().for_each(|v| *v = gelu(*v));
}

/// The exact GELU of one value: `x · Φ(x) = x/2 · (1 + erf(x/√2))`.
#[inline(always)]
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// The error function to within 4e-7 (a few ulp of 1; `libm::erff` is the test's reference),
/// without branches or table look-ups so a loop of it vectorises: `x · P(x²) / Q(x²)` with
/// degree-5 polynomials, coefficients fitted for frontline by least squares on [0, 4], and
/// `x` clamped to ±4 (beyond which erf is ±1 in f32).
#[inline(always)]
fn erf(x: f32) -> f32 {
    const P: [f32; 6] = [
        std::f32::consts::FRAC_2_SQRT_PI,
        0.192_497_83,
        0.053_006_15,
        0.003_852_617_5,
        2.863_290_4e-4,
        2.025_375_8e-6,
    ];
    const Q: [f32; 6] = [
        1.0,
        0.503_928_6,
        0.114_957_3,
        0.015_140_333,
        0.001_182_904_5,
        3.791_605_6e-5,
    ];
    let x = x.clamp(-4.0, 4.0);
    let u = x * x;
    let horner = |c: &[f32; 6]| c.iter().rev().fold(0.0, |sum, c| sum * u + c);
    (x * horner(&P) / horner(&Q)).clamp(-1.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_the_reference_everywhere() {
        let mut worst = 0.0f32;
        for i in -1_000_000..=1_000_000 {
            let x = i as f32 / 100_000.0; // -10 to 10 in steps of 1e-5
            worst = worst.max((erf(x) - libm::erff(x)).abs());
        }
        assert!(worst < 4e-7, "worst error {worst}");
        assert_eq!(erf(f32::INFINITY), 1.0);
        assert_eq!(erf(f32::NEG_INFINITY), -1.0);
        // The buffer path (threaded, vectorised) agrees with the scalar one.
        let values: Vec<f32> = (0..100_000)
            .map(|i| (i as f32 - 50_000.0) / 5_000.0)
            .collect();
        let mut all = values.clone();
        gelu_all(&mut all, Parallelism::Rayon(2));
        for (v, g) in values.iter().zip(&all) {
            assert_eq!(gelu(*v), *g);
        }
    }

    #[test]
    fn gelu_and_softmax_match_their_definitions() {
        assert_eq!(gelu(0.0), 0.0);
        assert!((gelu(1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((gelu(-3.0) + 0.004_049_7).abs() < 1e-6);
        let mut row = [1.0, 2.0, 3.0];
        softmax(&mut row);
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((row[2] - 0.665_240_9).abs() < 1e-6);
    }

    #[test]
    fn a_bad_sequence_is_refused_not_run() {
        let dir = crate::testing::model_dir();
        let encoder = BertEncoder::load(&dir).expect("model installed by scripts/model.sh");
        let too_long = vec![101u32; encoder.max_positions() + 1];
        assert!(encoder.encode(&[&too_long], 1).is_err());
        assert!(encoder.encode(&[&[]], 1).is_err());
        assert!(encoder.encode(&[&[101, 4_000_000, 102]], 1).is_err());
    }

    /// candle's BERT on the same weights, padded batch and all: the vectors must agree.
    #[test]
    fn matches_the_reference_implementation() {
        use candle_core::{DType, Device, Tensor};
        use candle_transformers::models::bert::{BertModel, Config, DTYPE};
        let dir = crate::testing::model_dir();
        let encoder = BertEncoder::load(&dir).expect("model installed by scripts/model.sh");
        let tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
        let texts = [
            "Where is my order #W2378156?",
            "hi",
            "I want to return the blue hiking boots I bought last week because they are too small, \
             and I'd like the refund on my original card please.",
            "Can I change the shipping address after the order has been placed?",
        ];
        let encodings = tokenizer.encode_batch(texts.to_vec(), true).unwrap();
        let ids: Vec<&[u32]> = encodings.iter().map(|e| e.get_ids()).collect();
        let ours = encoder.encode(&ids, 2).unwrap();
        let alone: Vec<Vec<f32>> = ids
            .iter()
            .map(|seq| encoder.encode(&[seq], 1).unwrap().remove(0))
            .collect();

        let device = Device::Cpu;
        let config: Config =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        // SAFETY: read-only map of a file nobody writes during the test.
        let vb = unsafe {
            candle_nn::VarBuilder::from_mmaped_safetensors(
                &[dir.join("model.safetensors")],
                DTYPE,
                &device,
            )
        }
        .unwrap();
        let model = BertModel::load(vb, &config).unwrap();
        let longest = ids.iter().map(|s| s.len()).max().unwrap();
        let pad = |f: &dyn Fn(usize) -> Vec<u32>| {
            let rows: Vec<Tensor> = (0..ids.len())
                .map(|i| Tensor::new(f(i), &device).unwrap())
                .collect();
            Tensor::stack(&rows, 0).unwrap()
        };
        let padded = |i: usize, fill: u32, real: &dyn Fn(usize) -> u32| {
            (0..longest)
                .map(|t| if t < ids[i].len() { real(t) } else { fill })
                .collect::<Vec<u32>>()
        };
        let input = pad(&|i| padded(i, 0, &|t| ids[i][t]));
        let types = pad(&|_| vec![0; longest]);
        let mask = pad(&|i| padded(i, 0, &|_| 1));
        let hidden = model.forward(&input, &types, Some(&mask)).unwrap();
        let mask = mask.to_dtype(DType::F32).unwrap().unsqueeze(2).unwrap();
        let mean = hidden
            .broadcast_mul(&mask)
            .unwrap()
            .sum(1)
            .unwrap()
            .broadcast_div(&mask.sum(1).unwrap())
            .unwrap();
        let reference = mean.to_vec2::<f32>().unwrap();

        for ((ours, alone), reference) in ours.iter().zip(&alone).zip(&reference) {
            let norm = reference.iter().map(|v| v * v).sum::<f32>().sqrt();
            for ((a, b), r) in ours.iter().zip(alone).zip(reference) {
                assert!((a - r / norm).abs() < 1e-4, "{a} vs reference {}", r / norm);
                assert!((a - b).abs() < 1e-5, "packed {a} vs alone {b}");
            }
        }
    }
}
