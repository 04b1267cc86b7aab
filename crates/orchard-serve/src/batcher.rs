//! Batching across requests: photos from concurrent requests wait at most a
//! short window for company, then go to the model in one call, as Triton's
//! and TorchServe's dynamic batchers do. Up to `lanes` calls run at once
//! (ONNX Runtime lanes), so one batch is collected while another runs.
//! A job may hold several model inputs (a photo's test-time views); they
//! stay in one call and come back together.

use std::sync::Arc;
use std::time::{Duration, Instant};

use orchard_model::InferenceBackend;
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
                    let result = backend.infer(&input, n);
                    let seconds = started.elapsed().as_secs_f64();
                    m.model_call(n, seconds);
                    let dim = backend.spec().feature_width;
                    match result {
                        Ok(features) => {
                            let mut offset = 0;
                            for j in jobs {
                                let count = j.inputs(per);
                                let f = features.get(offset * dim..(offset + count) * dim);
                                offset += count;
                                let _ = j.reply.send(match f {
                                    Some(f) => Ok(Inferred {
                                        features: f.to_vec(),
                                        model_seconds: seconds,
                                        batch: n,
                                    }),
                                    None => Err("the model returned too few features".into()),
                                });
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
