//! A trained intent head: multinomial logistic regression (a softmax layer) over the same unit
//! vectors the router compares, fitted to the intents' examples with Adam.
//!
//! Nearest neighbours judge a message by its few closest examples; the head weighs every
//! example of every intent at once, so it separates intents whose examples interleave (on
//! CLINC150 it picks the right intent where k-NN's top-1 does not, about a third of the time).
//! It knows nothing about what lies outside its intents, so the router still decides "out of
//! scope" by similarity to the examples; the head only chooses among intents.
//!
//! Training is deterministic (zero start, a fixed shuffling sequence), so the same examples
//! always give the same head.

use crate::router::dot;

/// How the head is fitted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeadTraining {
    /// Passes over the examples (at least).
    pub epochs: usize,
    /// Steps at least: small example sets get more passes, so a few dozen examples are fitted
    /// as well as thousands.
    pub min_steps: usize,
    /// Examples per step.
    pub batch: usize,
    /// Adam's step size.
    pub learning_rate: f32,
    /// L2 penalty on the weights (keeps them from growing without bound on separable data).
    pub weight_decay: f32,
}

impl Default for HeadTraining {
    fn default() -> Self {
        Self {
            epochs: 40,
            min_steps: 2_000,
            batch: 32,
            learning_rate: 0.01,
            weight_decay: 1e-5,
        }
    }
}

/// A softmax layer: `classes` rows of `dimension` weights, plus a bias per class.
#[derive(Clone, Debug)]
pub struct IntentHead {
    classes: usize,
    dimension: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

/// Adam's running moments for one parameter vector.
struct Moments {
    first: Vec<f32>,
    second: Vec<f32>,
}

impl Moments {
    fn new(len: usize) -> Self {
        Self {
            first: vec![0.0; len],
            second: vec![0.0; len],
        }
    }

    /// One Adam step on `params` with `gradient`, at step `t` (1-based).
    fn step(&mut self, params: &mut [f32], gradient: &[f32], t: i32, rate: f32) {
        const BETA1: f32 = 0.9;
        const BETA2: f32 = 0.999;
        const EPSILON: f32 = 1e-8;
        let (c1, c2) = (1.0 - BETA1.powi(t), 1.0 - BETA2.powi(t));
        for i in 0..params.len() {
            let g = gradient[i];
            self.first[i] = BETA1 * self.first[i] + (1.0 - BETA1) * g;
            self.second[i] = BETA2 * self.second[i] + (1.0 - BETA2) * g * g;
            params[i] -= rate * (self.first[i] / c1) / ((self.second[i] / c2).sqrt() + EPSILON);
        }
    }
}

/// A deterministic shuffle (a linear congruential sequence drives Fisher–Yates).
fn shuffle(order: &mut [usize], seed: &mut u64) {
    for i in (1..order.len()).rev() {
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let j = ((*seed >> 33) % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
}

/// Softmax of `logits` in place.
fn softmax(logits: &mut [f32]) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for l in logits.iter_mut() {
        *l = (*l - max).exp();
        sum += *l;
    }
    for l in logits.iter_mut() {
        *l /= sum;
    }
}

impl IntentHead {
    /// Fit a head to `vectors` (row-major, `dimension` floats each) labelled by `labels`
    /// (class indices below `classes`).
    pub fn train(
        vectors: &[f32],
        labels: &[usize],
        classes: usize,
        dimension: usize,
        training: &HeadTraining,
    ) -> Self {
        assert_eq!(
            vectors.len(),
            labels.len() * dimension,
            "one label per vector"
        );
        let mut head = Self {
            classes,
            dimension,
            weights: vec![0.0; classes * dimension],
            bias: vec![0.0; classes],
        };
        if classes < 2 || labels.is_empty() {
            return head;
        }
        let (mut weight_moments, mut bias_moments) =
            (Moments::new(head.weights.len()), Moments::new(classes));
        let mut weight_gradient = vec![0.0f32; head.weights.len()];
        let mut bias_gradient = vec![0.0f32; classes];
        let mut probabilities = vec![0.0f32; classes];
        let mut order: Vec<usize> = (0..labels.len()).collect();
        let mut seed = 0x5eed_u64;
        let mut t = 0;
        let batch = training.batch.max(1);
        let steps_per_epoch = labels.len().div_ceil(batch);
        let epochs = training
            .epochs
            .max(training.min_steps.div_ceil(steps_per_epoch));
        for _ in 0..epochs {
            shuffle(&mut order, &mut seed);
            for batch in order.chunks(batch) {
                weight_gradient.iter_mut().for_each(|g| *g = 0.0);
                bias_gradient.iter_mut().for_each(|g| *g = 0.0);
                let scale = 1.0 / batch.len() as f32;
                for &example in batch {
                    let x = &vectors[example * dimension..(example + 1) * dimension];
                    head.logits_into(x, &mut probabilities);
                    softmax(&mut probabilities);
                    probabilities[labels[example]] -= 1.0;
                    for (class, error) in probabilities.iter().enumerate() {
                        let error = error * scale;
                        bias_gradient[class] += error;
                        let row = &mut weight_gradient[class * dimension..(class + 1) * dimension];
                        for (g, xi) in row.iter_mut().zip(x) {
                            *g += error * xi;
                        }
                    }
                }
                for (g, w) in weight_gradient.iter_mut().zip(&head.weights) {
                    *g += training.weight_decay * w;
                }
                t += 1;
                weight_moments.step(
                    &mut head.weights,
                    &weight_gradient,
                    t,
                    training.learning_rate,
                );
                bias_moments.step(&mut head.bias, &bias_gradient, t, training.learning_rate);
            }
        }
        head
    }

    fn logits_into(&self, x: &[f32], out: &mut [f32]) {
        for (class, logit) in out.iter_mut().enumerate() {
            let row = &self.weights[class * self.dimension..(class + 1) * self.dimension];
            *logit = dot(row, x) + self.bias[class];
        }
    }

    /// Each class's probability for a message's vector.
    pub fn probabilities(&self, x: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; self.classes];
        self.logits_into(x, &mut out);
        softmax(&mut out);
        out
    }

    /// How many classes it chooses among.
    pub fn classes(&self) -> usize {
        self.classes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / norm).collect()
    }

    #[test]
    fn learns_a_boundary_nearest_neighbours_get_wrong() {
        // Class 0 lies along +x with a little y; class 1 along +y, except one outlier of
        // class 1 sitting right beside class 0's cluster. A query near class 0's cluster but
        // closest to the outlier is class 0 by the weight of all the examples.
        let mut vectors = vec![];
        let mut labels = vec![];
        for i in 0..20 {
            let spread = i as f32 * 0.02;
            vectors.extend(unit(&[1.0, spread, 0.1]));
            labels.push(0);
            vectors.extend(unit(&[spread, 1.0, 0.1]));
            labels.push(1);
        }
        vectors.extend(unit(&[1.0, 0.45, 0.1]));
        labels.push(1);
        let head = IntentHead::train(&vectors, &labels, 2, 3, &HeadTraining::default());
        let query = unit(&[1.0, 0.44, 0.1]);
        let p = head.probabilities(&query);
        assert!(p[0] > p[1], "{p:?}");
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        // And the clusters themselves are clear.
        assert!(head.probabilities(&unit(&[0.0, 1.0, 0.1]))[1] > 0.9);
        assert!(head.probabilities(&unit(&[1.0, 0.0, 0.1]))[0] > 0.9);
    }

    #[test]
    fn training_is_deterministic() {
        let vectors: Vec<f32> = (0..60)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) / 5.0)
            .collect();
        let labels: Vec<usize> = (0..20).map(|i| i % 3).collect();
        let a = IntentHead::train(&vectors, &labels, 3, 3, &HeadTraining::default());
        let b = IntentHead::train(&vectors, &labels, 3, 3, &HeadTraining::default());
        assert_eq!(a.weights, b.weights);
        assert_eq!(a.bias, b.bias);
    }
}
