//! The public face of pipelines and time on the reactor: adding pipelines before the start,
//! choosing the clock, and starting the worker pool at the first loop iteration.

use super::Reactor;
use crate::clock::Clock;
use crate::config::check_pipelines;
use crate::error::Error;
use crate::ops::{Pipeline, PipelineError};
use crate::worker::{Pool, PoolSettings};

impl Reactor {
    /// Add a pipeline (before the first [`Reactor::run`] or [`Reactor::poll_once`], when the
    /// worker pool starts with every pipeline added so far).
    pub fn add_pipeline(&mut self, pipeline: Pipeline) -> Result<(), Error> {
        if self.control.started {
            return Err(Error::Pipeline(PipelineError {
                pipeline: pipeline.get_name(),
                message: "pipelines must be added before the reactor starts".into(),
            }));
        }
        pipeline.validate().map_err(Error::Pipeline)?;
        let pipelines = &mut self.control.pipelines;
        pipelines.push(pipeline);
        if let Err((i, _, message)) = check_pipelines(pipelines) {
            let bad = pipelines.pop().map(|p| p.get_name());
            return Err(Error::Pipeline(PipelineError {
                pipeline: bad.unwrap_or_else(|| format!("#{i}")),
                message,
            }));
        }
        Ok(())
    }

    /// The clock of the reactor's timers (handshake deadlines, keepalive, close linger) and of
    /// pipelines' time-driven operators (default: the system clock). Set it before the reactor
    /// starts; a [`Clock::manual`] clock makes both testable without sleeps (drive the loop with
    /// [`Reactor::poll_once`] and a short timeout, moving the clock between calls).
    pub fn set_clock(&mut self, clock: Clock) {
        self.observe.next_tick = clock.instant() + super::observe::TICK;
        self.control.clock = clock;
    }

    /// Start the worker pool if there are pipelines, and the connectors (once, at the first
    /// loop iteration).
    pub(super) fn start(&mut self) -> Result<(), Error> {
        self.control.started = true;
        if !self.control.pipelines.is_empty() {
            let pipelines = std::mem::take(&mut self.control.pipelines);
            let w = &self.control.workers;
            let settings = PoolSettings {
                threads: w.threads(),
                queue: w.queue,
                idle: w.strategy(),
                pin: w.pin,
            };
            let wake = self.control.wake.clone();
            let pool = Pool::start(pipelines, &settings, wake, self.control.clock.clone())?;
            self.router.attach_pool(pool);
        }
        self.start_connectors_now();
        Ok(())
    }
}
