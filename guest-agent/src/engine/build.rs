//! `POST /build` (the classic builder, API builder version 1) as the
//! engine serves it: the context received, the Dockerfile parsed, the
//! stages the target needs walked step by step, and the result tagged,
//! reporting as moby's builder does (`Step N/M : …`, ` ---> Running in …`,
//! ` ---> Using cache`, ` ---> <id>`, `Successfully built …`).
//!
//! Owns the order of a build and its failure rule: a failing step ends the
//! build with Docker's message, its container removed, and no tag is set
//! (images of the steps that worked stay as the cache). The steps that
//! touch containers and layers are in `build_steps.rs`; what each
//! instruction means is `crate::build`'s. It must never speak HTTP.

use std::collections::HashMap;
use std::io::Read;

use bollard_stubs::models::HostConfig;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;

use super::transfer::Transfer;
use super::{Engine, EngineError};
use crate::build::instructions::State;
use crate::build::parser::{Dockerfile, Instr, Step, parse_trigger};
use crate::build::{BuildError, context};
use crate::image::reference::ImageRef;
use crate::image::registry::Credentials;

/// What `POST /build` asks for.
#[derive(Debug, Default)]
pub struct BuildRequest {
    pub tags: Vec<String>,
    pub dockerfile: String,
    pub build_args: HashMap<String, Option<String>>,
    pub labels: HashMap<String, String>,
    pub target: String,
    pub no_cache: bool,
    pub remove: bool,
    pub force_remove: bool,
    pub quiet: bool,
    /// Pull every `FROM` image, even one the store has.
    pub pull: bool,
    /// `X-Registry-Config`: credentials by registry host, for the pulls.
    pub registry_auth: HashMap<String, Credentials>,
    /// What every RUN step's container gets: the network mode, extra
    /// hosts, shm size, memory and CPU limits, ulimits.
    pub run_host_config: HostConfig,
    /// `--cache-from`: images whose steps may stand in for this build's.
    pub cache_from: Vec<String>,
    pub squash: bool,
    pub platform: String,
}

impl From<BuildError> for EngineError {
    fn from(e: BuildError) -> Self {
        EngineError::Refused { kind: e.kind(), message: e.to_string() }
    }
}

/// The build's progress stream: what the client prints, unless quiet.
pub(super) struct Out {
    tx: UnboundedSender<Value>,
    quiet: bool,
}

impl Out {
    pub(super) fn say(&self, text: impl Into<String>) {
        if !self.quiet {
            let _ = self.tx.send(json!({"stream": text.into()}));
        }
    }
    /// A RUN's stderr, as moby's `NewStderrWriter` wraps it.
    pub(super) fn stderr(&self, text: &str) {
        self.say(format!("\u{1b}[91m{text}\u{1b}[0m"));
    }
    fn aux(&self, id: &str) {
        let _ = self.tx.send(json!({"aux": {"ID": id}}));
    }
    fn raw(&self, v: Value) {
        let _ = self.tx.send(v);
    }
}

/// A failing step: Docker's message, and the exit code when a RUN failed.
#[derive(Debug)]
pub(super) struct StepFailed {
    pub message: String,
    pub code: Option<i64>,
}

impl From<EngineError> for StepFailed {
    fn from(e: EngineError) -> Self {
        StepFailed { message: e.to_string(), code: None }
    }
}

impl From<crate::build::lex::LexError> for StepFailed {
    fn from(e: crate::build::lex::LexError) -> Self {
        StepFailed { message: e.to_string(), code: None }
    }
}

impl From<BuildError> for StepFailed {
    fn from(e: BuildError) -> Self {
        StepFailed { message: e.to_string(), code: None }
    }
}

/// One build in progress.
pub(super) struct Build<'e> {
    pub engine: &'e Engine,
    pub req: BuildRequest,
    pub out: Out,
    pub ctx: context::Context,
    pub escape: char,
    /// Stage results so far: (name, image).
    pub stages: Vec<(Option<String>, Option<String>)>,
    /// The `--cache-from` images the store has.
    pub sources: Vec<super::cache_sources::CacheSource>,
}

/// `12` hex digits of an ID, as the classic builder prints them.
pub(super) fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

impl Engine {
    /// `POST /build`: refusals of the request (squash, a bad tag, an
    /// unreadable context, a bad Dockerfile) are HTTP errors; once the
    /// first step is reported, a failure is the stream's last message.
    #[tracing::instrument(skip_all, fields(tags = ?req.tags))]
    pub async fn build_image(
        self: &std::sync::Arc<Self>,
        req: BuildRequest,
        body: impl Read + Send + 'static,
    ) -> Result<Transfer<Value>, EngineError> {
        if req.squash {
            return Err(EngineError::invalid(
                "squash is not supported: berth's classic builder commits one layer per step",
            ));
        }
        if !req.platform.is_empty() && !req.platform.starts_with("linux") {
            return Err(EngineError::invalid(format!("\"{}\": the engine builds linux images only", req.platform)));
        }
        let mut refs = Vec::new();
        for t in &req.tags {
            let r = ImageRef::parse(t)?;
            if r.digest.is_some() {
                return Err(EngineError::invalid(format!("invalid reference format: {t} has a digest")));
            }
            refs.push(r);
        }
        let tmp = self.root.join("build").join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|source| EngineError::Root { path: tmp.clone(), source })?;
        // A context is thousands of files made and deleted a build apart:
        // as with the store's layers, ext4 gives each its own block group
        // (a context in `tmp`'s group cost ~2 s of inode search a build).
        crate::image::fsutil::spread_subdirs(&tmp);
        let dir = tmp.join(crate::durable::unique_name("context"));
        let ctx = tokio::task::spawn_blocking(move || context::receive(body, &dir)).await??;
        let name = if req.dockerfile.is_empty() { "Dockerfile".to_string() } else { req.dockerfile.clone() };
        let text = ctx.dockerfile(&name)?;
        ctx.drop_ignored(&name)?;
        let dockerfile = Dockerfile::parse(&text)?;
        let engine = self.clone();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        Transfer::start(rx, async move {
            let quiet = req.quiet;
            let out = Out { tx, quiet };
            let escape = dockerfile.escape;
            let sources = super::cache_sources::sources(&engine.images, &req.cache_from);
            let mut b = Build { engine: &engine, req, out, ctx, escape, stages: Vec::new(), sources };
            let result = b.run(dockerfile, &refs).await;
            // The context goes before the stream ends (off the async
            // threads: thousands of unlinks), so a client's next build
            // does not share the disk with this one's cleanup.
            let Build { out, ctx, .. } = b;
            let _ = tokio::task::spawn_blocking(move || drop(ctx)).await;
            match result {
                Ok(id) => {
                    if quiet {
                        out.raw(json!({"stream": format!("{id}\n")}));
                    }
                }
                Err(f) => {
                    let mut detail = json!({"message": f.message});
                    if let Some(code) = f.code {
                        detail["code"] = json!(code);
                    }
                    out.raw(json!({"errorDetail": detail, "error": f.message}));
                }
            }
            Ok(())
        })
        .await
    }

    /// `POST /build/prune`: the cache index forgotten; the images it named
    /// that nothing else holds (untagged, unused) removed.
    pub async fn prune_build_cache(&self) -> Result<Value, EngineError> {
        let ids = self.build_cache.clear()?;
        let (mut deleted, mut reclaimed) = (Vec::new(), 0u64);
        for id in ids {
            let Ok(rec) = self.images.resolve(&id) else { continue };
            let tagged = self.images.list().iter().any(|s| s.record.id == rec.id && !s.tags.is_empty());
            if tagged {
                continue;
            }
            // A step's image owns its top layer unless the step made none
            // (then it is its parent's).
            let parent_layers = rec.parent.as_ref().and_then(|p| self.images.resolve(&p.to_string()).ok());
            let own = match (rec.layers.last(), parent_layers) {
                (Some(top), Some(p)) if p.layers.len() < rec.layers.len() => top.size,
                (Some(top), None) if rec.layers.len() == 1 => top.size,
                _ => 0,
            };
            if self.remove_image(&rec.id.to_string(), false).await.is_ok() {
                deleted.push(rec.id.to_string());
                reclaimed += own;
            }
        }
        // moby's `builder prune` event.
        let attrs = HashMap::from([("reclaimed".to_string(), reclaimed.to_string())]);
        self.containers.events.publish(bollard_stubs::models::EventMessageTypeEnum::BUILDER, "prune", "", attrs);
        Ok(json!({"CachesDeleted": deleted, "SpaceReclaimed": reclaimed}))
    }
}

impl Build<'_> {
    async fn run(&mut self, mut d: Dockerfile, refs: &[ImageRef]) -> Result<String, StepFailed> {
        let last =
            match self.req.target.as_str() {
                "" => d.stages.len() - 1,
                t => d.stages.iter().position(|s| s.name().is_some_and(|n| n.eq_ignore_ascii_case(t))).ok_or_else(
                    || StepFailed { message: format!("failed to reach build target {t} in Dockerfile"), code: None },
                )?,
            };
        d.stages.truncate(last + 1);
        if !self.req.labels.is_empty() {
            let mut keys: Vec<_> = self.req.labels.iter().collect();
            keys.sort();
            let text: Vec<String> = keys.iter().map(|(k, v)| format!("{k:?}={v:?}")).collect();
            let text = text.join(" ");
            let step = Step { original: format!("LABEL {text}"), instr: Instr::Label(text) };
            d.stages[last].steps.push(step);
        }
        let mut meta = State::default();
        for s in &d.meta_args {
            if let Instr::Arg(a) = &s.instr {
                meta.declare_arg(a, self.escape, &self.req.build_args, &[])?;
            }
        }
        let vars = meta.vars();
        let lex = crate::build::lex::Lexer { escape: self.escape, vars: &vars };
        let needed = crate::build::stages::needed(&d, last, |w| lex.word(w).unwrap_or_else(|_| w.to_string()));
        let total = d.total_steps(&needed);
        if let Some(frontend) = &d.syntax {
            self.out.say(format!(
                "# syntax={frontend} is ignored: the classic builder has no BuildKit frontends; building with its own\n"
            ));
        }
        let mut n = 0;
        for s in &d.meta_args {
            n += 1;
            self.out.say(format!("Step {n}/{total} : {}\n", s.original));
        }
        let mut id = None;
        for (stage, needed) in d.stages.iter().zip(needed) {
            if !needed {
                // Kept in place, so `--from=<index>` still counts right.
                self.stages.push((stage.name().map(str::to_string), None));
                continue;
            }
            n += 1;
            self.out.say(format!("Step {n}/{total} : {}\n", stage.from.original));
            let mut st = self.from(&stage.from.instr, &meta).await?;
            self.out.say(format!(" ---> {}\n", st.image.as_deref().map(short).unwrap_or_default()));
            self.triggers(&mut st, &meta.args).await?;
            for step in &stage.steps {
                n += 1;
                self.out.say(format!("Step {n}/{total} : {}\n", step.original));
                self.step(&mut st, &step.instr, &meta.args).await?;
                self.out.say(format!(" ---> {}\n", st.image.as_deref().map(short).unwrap_or_default()));
            }
            let image = match &st.image {
                Some(i) => i.clone(),
                None => self.commit_nop(&mut st, "").await?,
            };
            self.out.aux(&image);
            self.stages.push((stage.name().map(str::to_string), Some(image.clone())));
            id = Some(image);
        }
        let id = id.ok_or_else(|| StepFailed {
            message: "No image was generated. Is your Dockerfile empty?".into(),
            code: None,
        })?;
        self.out.say(format!("Successfully built {}\n", short(&id)));
        let digest =
            crate::image::digest::Digest::parse(&id).map_err(|e| StepFailed { message: e.to_string(), code: None })?;
        for r in refs {
            self.engine.images.tag(r, &digest).map_err(EngineError::from)?;
            self.engine.image_event("tag", &id, &r.familiar_string());
            self.out.say(format!("Successfully tagged {}\n", r.familiar_string()));
        }
        Ok(id)
    }

    /// `FROM`: an earlier stage (by name or index), `scratch`, or an image.
    async fn from(&mut self, instr: &Instr, meta: &State) -> Result<State, StepFailed> {
        let Instr::From { image, .. } = instr else { unreachable!("a stage starts with FROM") };
        let vars = meta.vars();
        let name = crate::build::lex::Lexer { escape: self.escape, vars: &vars }.word(image)?;
        let mut st = State::default();
        let earlier = self.stages.iter().position(|(n, _)| n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(&name)));
        let earlier = earlier.or_else(|| name.parse::<usize>().ok().filter(|i| *i < self.stages.len()));
        let image = match earlier {
            Some(i) => self.stages[i].1.clone(),
            None if name.eq_ignore_ascii_case("scratch") => None,
            None => Some(self.base_image(&name).await?),
        };
        if let Some(id) = &image {
            let rec = self.engine.images.resolve(id).map_err(EngineError::from)?;
            let blob = self.engine.images.read_blob(&rec.id).map_err(EngineError::from)?;
            let cfg: Value =
                serde_json::from_slice(&blob).map_err(|e| StepFailed { message: e.to_string(), code: None })?;
            if let Some(Value::Object(c)) = cfg.get("config") {
                st.config = c.clone();
            }
            st.image = Some(rec.id.to_string());
        }
        Ok(st)
    }

    /// The base image: pulled if it is not here, or always with `pull`
    /// (moby's `PullOptionForcePull`: a failed pull fails the build, even
    /// of an image the store has), with the credentials
    /// `X-Registry-Config` has for its registry.
    async fn base_image(&self, name: &str) -> Result<String, StepFailed> {
        if !self.req.pull
            && let Ok(rec) = self.engine.images.resolve(name)
        {
            return Ok(rec.id.to_string());
        }
        let r = ImageRef::parse(name).map_err(EngineError::from)?;
        let creds = self.req.registry_auth.get(&r.registry).cloned().unwrap_or_default();
        let mut t = self.engine.pull_image(&r.to_string(), None, creds).await?;
        while let Some(m) = t.next().await {
            m?;
        }
        Ok(self.engine.images.resolve(name).map_err(EngineError::from)?.id.to_string())
    }

    /// The base image's ONBUILD triggers, run as steps of this stage.
    async fn triggers(&mut self, st: &mut State, meta: &[(String, Option<String>)]) -> Result<(), StepFailed> {
        let list: Vec<String> =
            st.config.remove("OnBuild").and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default();
        if list.is_empty() {
            return Ok(());
        }
        self.out.say(format!("# Executing {} build trigger{}\n", list.len(), if list.len() == 1 { "" } else { "s" }));
        for t in list {
            let step = parse_trigger(&t)?;
            self.step(st, &step.instr, meta).await?;
        }
        Ok(())
    }

    async fn step(
        &mut self,
        st: &mut State,
        instr: &Instr,
        meta: &[(String, Option<String>)],
    ) -> Result<(), StepFailed> {
        match instr {
            Instr::Run { cmd, heredoc } => self.run_step(st, cmd, heredoc.as_ref()).await,
            Instr::Copy { add, flags, srcs, dest } => self.copy_step(st, *add, flags, srcs, dest).await,
            Instr::Arg(a) => {
                let comment = st.declare_arg(a, self.escape, &self.req.build_args, meta)?;
                self.commit_nop(st, &comment).await.map(drop)
            }
            Instr::From { .. } => Err(StepFailed { message: "FROM inside a stage".into(), code: None }),
            Instr::Workdir(_) => {
                let comment = st.apply(instr, self.escape)?.unwrap_or_default();
                // moby's WORKDIR commits with one space after `#(nop)`.
                let mut cmd = st.shell();
                cmd.push(format!("#(nop) {comment}"));
                self.commit_cmd(st, cmd).await.map(drop)
            }
            other => {
                let comment = st.apply(other, self.escape)?.unwrap_or_default();
                self.commit_nop(st, &comment).await.map(drop)
            }
        }
    }

    /// Commits a metadata step (an empty layer) unless the cache has it.
    pub(super) async fn commit_nop(&mut self, st: &mut State, comment: &str) -> Result<String, StepFailed> {
        let cmd = st.nop(comment);
        self.commit_cmd(st, cmd).await
    }
}
