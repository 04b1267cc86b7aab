//! Batching across requests: photos from concurrent requests wait at most a
//! short window for company, then go to the model in one call, as Triton's
//! and TorchServe's dynamic batchers do. Up to `lanes` calls run at once
//! (ONNX Runtime lanes), so one batch is collected while another runs.
//! A job may hold several model inputs (a photo's test-time views); they
//! stay in one call and come back together.

use std::sync::Arc;
use std::time::{Duration, Instant};

use orchard_model::{infer_batch, InferenceBackend};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::metrics::Metrics;

/// What a photo gets back from the model: the features of each of its
/// inputs, the model call's duration and the batch size it ran in.
#[derive(Debug, Clone)]
pub struct Inferred {
    /// The features of the job's inputs, one vector per input, in order.
    pub features: Vec<f32>,
    /// Seconds of the model call.
    pub model_seconds: f64,
    /// Model inputs in that call (photos, or their views).
    pub batch: usize,
}

struct Job {
    input: Vec<f32>,
    reply: oneshot::Sender<Result<Inferred, String>>,
}

impl Job {
    /// Model inputs the job holds.
    fn inputs(&self, per: usize) -> usize {
        (self.input.len() / per.max(1)).max(1)
    }
}

/// The queue in front of the model.
#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::Sender<Job>,
    metrics: Arc<Metrics>,
}

impl Batcher {
    /// Starts the batching task on the current runtime.
    pub fn start(
        backend: Arc<dyn InferenceBackend>,
        window: Duration,
        max_batch: usize,
        capacity: usize,
        lanes: usize,
        metrics: Arc<Metrics>,
    ) -> Batcher {
        let (tx, mut rx) = mpsc::channel::<Job>(capacity.max(1));
        let lanes = Arc::new(Semaphore::new(lanes.max(1)));
        let m = metrics.clone();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let permit = lanes
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("semaphore is never closed");
                let per = backend.spec().image_len();
                let mut inputs = first.inputs(per);
                let mut jobs = vec![first];
                let deadline = tokio::time::Instant::now() + window;
                while inputs < max_batch.max(1) {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(job)) => {
                            inputs += job.inputs(per);
                            jobs.push(job);
                        }
                        _ => break,
                    }
                }
                m.queue(-(jobs.len() as i64));
                let backend = backend.clone();
                let m = m.clone();
                tokio::task::spawn_blocking(move || {
                    let n = inputs;
                    let mut input = Vec::with_capacity(n * per);
                    for j in &jobs {
                        input.extend_from_slice(&j.input);
                    }
                    let started = Instant::now();
                    let result = infer_batch(backend.as_ref(), &input, n);
                    let seconds = started.elapsed().as_secs_f64();
                    m.model_call(n, seconds);
                    match result {
                        Ok(features) => {
                            let mut offset = 0;
                            for j in jobs {
                                let rows = offset..offset + j.inputs(per);
                                offset = rows.end;
                                let mut f = Vec::with_capacity(rows.len() * features.width());
                                let reply = rows
                                    .into_iter()
                                    .try_for_each(|i| {
                                        features.row(i).map(|r| f.extend_from_slice(r))
                                    })
                                    .map(|()| Inferred {
                                        features: f,
                                        model_seconds: seconds,
                                        batch: n,
                                    })
                                    .map_err(|e| e.to_string());
                                let _ = j.reply.send(reply);
                            }
                        }
                        Err(e) => {
                            let message = format!("the model failed: {e}");
                            for j in jobs {
                                let _ = j.reply.send(Err(message.clone()));
                            }
                        }
                    }
                    drop(permit);
                });
            }
        });
        Batcher { tx, metrics }
    }

    /// Queues one preprocessed photo (one model input, or several: its
    /// views, `k × image_len` values); `None` when the queue is full.
    pub fn submit(&self, input: Vec<f32>) -> Option<oneshot::Receiver<Result<Inferred, String>>> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Job { input, reply }) {
            Ok(()) => {
                self.metrics.queue(1);
                Some(rx)
            }
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orchard_model::{ModelError, ModelSpec};

    /// Returns each input's first value as its two features; NaN stays NaN.
    struct Echo(ModelSpec);

    impl InferenceBackend for Echo {
        fn name(&self) -> &'static str {
            "echo"
        }
        fn spec(&self) -> &ModelSpec {
            &self.0
        }
        fn preferred_batch(&self) -> usize {
            8
        }
        fn infer(&self, input: &[f32], batch: usize) -> Result<Vec<f32>, ModelError> {
            let per = input.len() / batch;
            Ok(input.chunks(per).flat_map(|c| [c[0], c[0]]).collect())
        }
    }

    #[tokio::test]
    async fn a_photo_with_non_finite_features_fails_alone_in_its_batch() {
        let spec = ModelSpec {
            width: 1,
            height: 1,
            feature_width: 2,
            ..orchard_model::preset(orchard_model::MOBILENET_V2).expect("preset")
        };
        let per = spec.image_len();
        let batcher = Batcher::start(
            Arc::new(Echo(spec)),
            Duration::from_millis(200),
            16,
            16,
            1,
            Arc::default(),
        );
        let photo = |v: f32, views: usize| batcher.submit(vec![v; per * views]).expect("queued");
        // Submitted together: one model call of 4 inputs.
        let (a, b, c) = (photo(1.0, 1), photo(f32::NAN, 2), photo(3.0, 1));
        let a = a.await.unwrap().expect("finite");
        assert_eq!((a.features, a.batch), (vec![1.0, 1.0], 4));
        let b = b.await.unwrap().expect_err("NaN");
        assert!(b.contains("non-finite"), "{b}");
        assert_eq!(c.await.unwrap().expect("finite").features, vec![3.0, 3.0]);
    }
}
