//! The build steps that make layers: `RUN` as a container of the engine's
//! own runtime (its namespaces, seccomp, capabilities, the build's network
//! mode), committed with only what changed (whiteouts for deletions, as
//! `docker commit`); `COPY`/`ADD` as a layer of the copied entries; and
//! the commit of every step, cache first (`build_cache.rs`).
//!
//! Owns the step's container from create to removal (removed whether the
//! step worked or not) and the cache index's entry for each commit.
//! It must never speak HTTP nor read a context path but through
//! `crate::confined` (via `crate::build::copy`).

use std::path::Path;

use bollard_stubs::models::ContainerCreateBody;
use serde_json::{Value, json};

use super::EngineError;
use super::build::{Build, StepFailed, short};
use super::build_cache::cache_key;
use crate::build::copy::{self, CopyOptions, Source};
use crate::build::instructions::{State, clean};
use crate::build::lex::Lexer;
use crate::build::parser::{Cmd, Src};
use crate::confined::Root;
use crate::container::logs::{LogQuery, Stream};
use crate::image::commit::{self, CommitOptions, LayerWriter, StagedLayer};
use crate::image::digest::Digest;

fn failed(e: impl std::fmt::Display) -> StepFailed {
    StepFailed { message: e.to_string(), code: None }
}

impl Build<'_> {
    /// The step's container config for the cache and history: the
    /// running config with `Cmd` the step's command.
    fn step_config(st: &State, cmd: &[String]) -> Value {
        let mut c = st.config.clone();
        c.insert("Cmd".into(), json!(cmd));
        Value::Object(c)
    }

    /// Commits `layer` (none: an empty layer) with `cmd` as the step's
    /// command; the new image becomes the state's.
    async fn commit_layer(
        &mut self,
        st: &mut State,
        cmd: Vec<String>,
        layer: Option<StagedLayer>,
        container: &str,
    ) -> Result<String, StepFailed> {
        let config = Self::step_config(st, &cmd);
        let layer = match layer {
            Some(l) => l,
            None => {
                let mut w = LayerWriter::create(&self.engine.images).map_err(EngineError::from)?;
                let b = tar::Builder::new(&mut w);
                b.into_inner().map_err(failed)?;
                w.finish().map_err(EngineError::from)?
            }
        };
        let opts = CommitOptions {
            parent: st.image.as_deref().map(Digest::parse).transpose().map_err(failed)?,
            config: Value::Object(st.config.clone()),
            container_config: config.clone(),
            container_id: container.to_string(),
            author: st.author.clone().unwrap_or_default(),
            comment: String::new(),
            refs: Vec::new(),
            created: docker_vocab::time::now_string(),
        };
        let store = self.engine.images.clone();
        let image = tokio::task::spawn_blocking(move || commit::commit(&store, layer, &opts))
            .await
            .map_err(EngineError::from)?
            .map_err(EngineError::from)?;
        let id = image.id.to_string();
        self.engine.build_cache.put(cache_key(st, &config), id.clone())?;
        st.image = Some(id.clone());
        Ok(id)
    }

    /// A metadata step: the cached image, or a commit with an empty layer.
    pub(super) async fn commit_cmd(&mut self, st: &mut State, cmd: Vec<String>) -> Result<String, StepFailed> {
        let config = Self::step_config(st, &cmd);
        if let Some(hit) = self.cached(st, &config).await? {
            self.out.say(" ---> Using cache\n");
            st.image = Some(hit.clone());
            return Ok(hit);
        }
        self.commit_layer(st, cmd, None, "").await
    }

    /// `RUN`: a container of the current image runs the command; its
    /// changes become the step's layer.
    pub(super) async fn run_step(
        &mut self,
        st: &mut State,
        cmd: &Cmd,
        heredoc: Option<&(String, bool)>,
    ) -> Result<(), StepFailed> {
        let Some(image) = st.image.clone() else {
            return Err(failed("Please provide a source image with `from` prior to run"));
        };
        let mut argv = match (cmd, heredoc) {
            // `RUN <<EOF` alone runs the heredoc as the script; a command
            // with a heredoc gets it as its standard input, through the
            // shell's own heredoc (expanded by it unless the delimiter was quoted).
            (Cmd::Shell(text), Some((body, expand))) => {
                if text.trim().is_empty() {
                    st.command(&Cmd::Shell(body.clone()))
                } else {
                    let word = if *expand { "BERTH_EOF" } else { "'BERTH_EOF'" };
                    st.command(&Cmd::Shell(format!("{text} <<{word}\n{body}BERTH_EOF")))
                }
            }
            _ => st.command(cmd),
        };
        let args = st.run_args();
        // moby's history and cache key for a RUN with build args: `|N K=V … cmd`.
        let saved: Vec<String> = if args.is_empty() {
            argv.clone()
        } else {
            std::iter::once(format!("|{}", args.len()))
                .chain(args.iter().cloned())
                .chain(argv.iter().cloned())
                .collect()
        };
        let config = Self::step_config(st, &saved);
        if let Some(hit) = self.cached(st, &config).await? {
            self.out.say(" ---> Using cache\n");
            st.image = Some(hit);
            return Ok(());
        }
        if argv.is_empty() {
            return Err(failed("RUN requires at least one argument"));
        }
        let mut env = st.env();
        env.extend(args);
        // The proxy args reach a RUN without an ARG line (and stay out of history).
        for (k, v) in &self.req.build_args {
            if let Some(v) = v.as_ref().filter(|_| crate::build::instructions::is_predefined(k)) {
                env.push(format!("{k}={v}"));
            }
        }
        let entry = argv.remove(0);
        let text = |k: &str| st.config.get(k).and_then(Value::as_str).map(str::to_string);
        let body = ContainerCreateBody {
            image: Some(image),
            entrypoint: Some(vec![entry.clone()]),
            cmd: Some(argv.clone()),
            env: Some(env),
            user: text("User"),
            working_dir: text("WorkingDir"),
            host_config: Some(self.req.run_host_config.clone()),
            ..Default::default()
        };
        let id = self.engine.create_container(None, body).await?.id;
        self.out.say(format!(" ---> Running in {}\n", short(&id)));
        let result = self.run_container(st, &id, saved.clone()).await;
        // `rm=0` keeps a step's container when the step worked; a failed
        // step's container never stays.
        let keep = result.as_ref().is_ok_and(|c| *c == 0) && !self.req.remove && !self.req.force_remove;
        if !keep && let Err(e) = self.engine.remove_container(&id, true, true).await {
            tracing::warn!(%id, error = %e, "removing a build step's container");
        } else if !keep && result.as_ref().is_ok_and(|c| *c == 0) {
            self.out.say(format!(" ---> Removed intermediate container {}\n", short(&id)));
        }
        let code = result?;
        if code != 0 {
            let shown: Vec<String> = std::iter::once(entry).chain(argv).collect();
            return Err(StepFailed {
                message: format!("The command '{}' returned a non-zero code: {code}", shown.join(" ")),
                code: Some(code),
            });
        }
        Ok(())
    }

    /// Starts the step's container, streams its output, waits for its
    /// exit and, if it worked, commits its changes. The exit code.
    async fn run_container(&mut self, st: &mut State, id: &str, saved: Vec<String>) -> Result<i64, StepFailed> {
        let wait = self.engine.wait_container(id, Some("next-exit"))?;
        self.engine.start_container(id).await?;
        let q = LogQuery { stdout: true, stderr: true, follow: true, ..Default::default() };
        let mut logs = self.engine.container_logs(id, q)?.entries;
        let mut wait = std::pin::pin!(wait);
        let life = loop {
            tokio::select! {
                life = &mut wait => break life,
                entry = logs.recv() => match entry {
                    Some(e) => self.forward(&e.stream, &e.bytes),
                    None => break wait.await,
                },
            }
        };
        while let Ok(Some(e)) = tokio::time::timeout(std::time::Duration::from_millis(300), logs.recv()).await {
            self.forward(&e.stream, &e.bytes);
        }
        if let Some(err) = life.error.filter(|e| !e.is_empty()) {
            return Err(failed(err));
        }
        if life.exit_code != 0 {
            return Ok(life.exit_code);
        }
        let c = self.engine.container(id)?;
        let mut layer = LayerWriter::create(&self.engine.images).map_err(EngineError::from)?;
        let containers = self.engine.containers.clone();
        let layer = tokio::task::spawn_blocking(move || containers.write_layer(&c, &mut layer).map(|()| layer))
            .await
            .map_err(EngineError::from)?
            .map_err(EngineError::from)?
            .finish()
            .map_err(EngineError::from)?;
        self.commit_layer(st, saved, Some(layer), id).await?;
        Ok(0)
    }

    fn forward(&self, stream: &Stream, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        match stream {
            Stream::Stdout => self.out.say(text),
            Stream::Stderr => self.out.stderr(&text),
        }
    }

    /// `COPY`/`ADD`: the entries from the context (or `--from` a stage or
    /// image) as the step's layer.
    pub(super) async fn copy_step(
        &mut self,
        st: &mut State,
        add: bool,
        flags: &[(String, Option<String>)],
        srcs: &[Src],
        dest: &str,
    ) -> Result<(), StepFailed> {
        let vars = st.vars();
        let lex = Lexer { escape: self.escape, vars: &vars };
        let flag = |n: &str| flags.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone().unwrap_or_default());
        let mut sources = Vec::new();
        for s in srcs {
            sources.push(match s {
                Src::Path(p) => Source::Path(lex.word(p)?),
                Src::Heredoc { body, expand: true } => Source::Heredoc(lex.word(body).unwrap_or_else(|_| body.clone())),
                Src::Heredoc { body, .. } => Source::Heredoc(body.clone()),
            });
        }
        let dest_word = lex.word(dest)?;
        let workdir = st.config.get("WorkingDir").and_then(Value::as_str).unwrap_or("/").to_string();
        let mut dest = if dest_word.starts_with('/') {
            dest_word.clone()
        } else {
            format!("{}/{dest_word}", workdir.trim_end_matches('/'))
        };
        if dest_word == "." || dest_word.ends_with('/') || dest_word.ends_with("/.") {
            dest = format!("{}/", clean(&dest).trim_end_matches('/'));
        }
        let chown_text = flag("chown").map(|c| lex.word(&c)).transpose()?;
        let chown = match &chown_text {
            Some(c) => Some(self.owner(st, c)?),
            None => None,
        };
        let chmod = match flag("chmod") {
            Some(m) => Some(u32::from_str_radix(&m, 8).map_err(|_| failed(format!("invalid chmod parameter: {m}")))?),
            None => None,
        };
        let opts = CopyOptions { add, chown, chmod };
        let layers = self.layers_of(st.image.as_deref())?;
        let dest_is_dir = lookup(&layers, &dest).is_some_and(|s| s.kind == crate::confined::Kind::Dir);
        let from = flag("from").map(|f| lex.word(&f)).transpose()?;
        let copied = match &from {
            None => {
                let root = Root::open(self.ctx.root.host_path()).map_err(failed)?;
                let d = dest_is(dest.clone(), dest_is_dir);
                tokio::task::spawn_blocking(move || copy::collect(&root, &sources, &d, dest_is_dir, opts))
                    .await
                    .map_err(EngineError::from)??
            }
            Some(f) => self.collect_from(f, sources, dest.clone(), dest_is_dir, opts).await?,
        };
        let chown_comment = chown_text.map(|c| format!("--chown={c} ")).unwrap_or_default();
        let comment = format!("{} {chown_comment}{} in {} ", if add { "ADD" } else { "COPY" }, copied.hash, dest);
        let mut cmd = st.shell();
        cmd.push(format!("#(nop) {comment}"));
        let config = Self::step_config(st, &cmd);
        if let Some(hit) = self.cached(st, &config).await? {
            self.out.say(" ---> Using cache\n");
            st.image = Some(hit);
            return Ok(());
        }
        let (uid, gid) = chown.unwrap_or((0, 0));
        let dirs: Vec<(String, tar::Header)> = copy::parents(&copied.items)
            .into_iter()
            .map(|d| {
                let mut h = tar::Header::new_gnu();
                match lookup(&layers, &format!("/{d}")) {
                    Some(s) => {
                        h.set_mode(s.perm);
                        h.set_uid(s.uid.into());
                        h.set_gid(s.gid.into());
                        h.set_mtime(u64::try_from(s.mtime).unwrap_or(0));
                    }
                    None => {
                        h.set_mode(0o755);
                        h.set_uid(uid.into());
                        h.set_gid(gid.into());
                        h.set_mtime(
                            std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .map_or(0, |d| d.as_secs()),
                        );
                    }
                }
                (d, h)
            })
            .collect();
        let mut w = LayerWriter::create(&self.engine.images).map_err(EngineError::from)?;
        let layer = tokio::task::spawn_blocking(move || copy::write_layer(dirs, &copied.items, &mut w).map(|()| w))
            .await
            .map_err(EngineError::from)?
            .map_err(failed)?
            .finish()
            .map_err(EngineError::from)?;
        self.commit_layer(st, cmd, Some(layer), "").await.map(drop)
    }

    /// `COPY --from=`: a stage of this build or an image, read through a
    /// read-only overlay of its layers (no container: creating one and
    /// its shim cost ~0.7 s a step, cache hits included).
    async fn collect_from(
        &mut self,
        from: &str,
        sources: Vec<Source>,
        dest: String,
        dest_is_dir: bool,
        opts: CopyOptions,
    ) -> Result<copy::Copied, StepFailed> {
        let stage = self.stages.iter().position(|(n, _)| n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(from)));
        let stage = stage.or_else(|| from.parse::<usize>().ok().filter(|i| *i < self.stages.len()));
        let image = match stage {
            Some(i) => self.stages[i].1.clone().ok_or_else(|| failed(format!("stage {from} has no image")))?,
            None => self.base_image_of(from).await?,
        };
        let mut layers = self.layers_of(Some(&image))?;
        layers.reverse();
        let dir = self.engine.root.join("build").join("tmp").join(crate::durable::unique_name("from"));
        tokio::task::spawn_blocking(move || {
            if layers.is_empty() {
                // `scratch` with nothing added: an empty tree.
                let empty = dir.join("empty");
                std::fs::create_dir_all(&empty).map_err(failed)?;
                layers.push(empty);
            }
            let view = crate::runtime::LayerView::mount(&layers, &dir.join("view")).map_err(failed);
            let copied = view.and_then(|v| {
                let root = Root::open(v.root()).map_err(failed)?;
                let d = dest_is(dest, dest_is_dir);
                copy::collect(&root, &sources, &d, dest_is_dir, opts).map_err(StepFailed::from)
            });
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "removing a COPY --from view");
            }
            copied
        })
        .await
        .map_err(EngineError::from)?
    }

    async fn base_image_of(&self, name: &str) -> Result<String, StepFailed> {
        match self.engine.images.resolve(name) {
            Ok(r) => Ok(r.id.to_string()),
            Err(e) => Err(failed(format!("invalid from flag value {name}: {e}"))),
        }
    }

    /// The unpacked layers of an image, top first.
    fn layers_of(&self, image: Option<&str>) -> Result<Vec<std::path::PathBuf>, StepFailed> {
        let Some(image) = image else { return Ok(Vec::new()) };
        let rec = self.engine.images.resolve(image).map_err(EngineError::from)?;
        Ok(rec.layers.iter().rev().map(|l| self.engine.images.layer_path(&l.diff_id)).collect())
    }

    /// `--chown=user:group` as ids: numbers, or names in the image's
    /// `/etc/passwd` and `/etc/group`.
    fn owner(&self, st: &State, spec: &str) -> Result<(u32, u32), StepFailed> {
        let layers = self.layers_of(st.image.as_deref())?;
        let (user, group) = spec.split_once(':').unwrap_or((spec, ""));
        let find = |file: &str, name: &str, field: usize| -> Result<u32, StepFailed> {
            if let Ok(n) = name.parse() {
                return Ok(n);
            }
            let text = read_file(&layers, file).unwrap_or_default();
            text.lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.first() == Some(&name))
                .and_then(|f| f.get(field).and_then(|v| v.parse().ok()))
                .ok_or_else(|| {
                    failed(format!(
                        "unable to convert uid/gid chown string to host mapping: no such user or group: {name}"
                    ))
                })
        };
        let uid = find("/etc/passwd", user, 2)?;
        let gid = if group.is_empty() {
            if user.parse::<u32>().is_ok() { uid } else { find("/etc/passwd", user, 3)? }
        } else {
            find("/etc/group", group, 2)?
        };
        Ok((uid, gid))
    }
}

fn dest_is(dest: String, is_dir: bool) -> String {
    if is_dir && !dest.ends_with('/') { format!("{dest}/") } else { dest }
}

/// A path's entry in the topmost layer that has it.
fn lookup(layers: &[std::path::PathBuf], path: &str) -> Option<crate::confined::Stat> {
    let path = clean(path);
    for l in layers {
        let Ok(root) = Root::open(l) else { continue };
        if let Ok(node) = root.resolve_nofollow(Path::new(&path))
            && let Ok(st) = node.stat()
        {
            return Some(st);
        }
    }
    None
}

fn read_file(layers: &[std::path::PathBuf], path: &str) -> Option<String> {
    for l in layers {
        let Ok(root) = Root::open(l) else { continue };
        if let Ok(node) = root.resolve(Path::new(path)) {
            let mut s = String::new();
            use std::io::Read;
            return node.open_read().ok()?.read_to_string(&mut s).ok().map(|_| s);
        }
    }
    None
}
