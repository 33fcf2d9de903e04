//! A real headless Chromium, driven over WebDriver by Debian's
//! `chromium-driver` (fantoccini; nothing downloads a browser or a driver).
//! Each [`Browser`] has its own driver process on an ephemeral port and a
//! fresh profile directory; both go when it drops.
//!
//! Screenshots go to `$STORENODE_SCREENSHOTS` (the docs use
//! `docs/screenshots`), else `target/screenshots`. axe-core is read from
//! `$STORENODE_AXE`, else the copy vendored in `tests/vendor/axe-core`
//! (pinned; its SHA-256 is checked by `scripts/test.sh`).
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// The browser binary and its driver, from Debian's packages.
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A phone (360 px wide) and a back-office PC.
pub const PHONE: (u32, u32) = (360, 780);
pub const DESKTOP: (u32, u32) = (1280, 900);

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    /// The base URL of the node under test.
    pub base: String,
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
        })
}

/// Where screenshots are saved.
pub fn screenshot_dir() -> PathBuf {
    std::env::var_os("STORENODE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("screenshots"))
}

impl Browser {
    /// Start Chromium at `size` (width, height) against `base`
    /// (`http://127.0.0.1:port`).
    pub async fn start(base: &str, size: (u32, u32)) -> Result<Browser> {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            if !Path::new(bin).exists() {
                bail!("{bin} is missing: scripts/test.sh installs chromium and chromium-driver");
            }
        }
        // A port taken between probing and the driver binding it makes the
        // driver exit; try a few.
        let mut last = anyhow!("chromedriver did not start");
        for _ in 0..3 {
            let port = free_port()?;
            let mut driver = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("spawn chromedriver")?;
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut up = false;
            while Instant::now() < deadline {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    up = true;
                    break;
                }
                if driver.try_wait()?.is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            if !up {
                let _ = driver.kill();
                let _ = driver.wait();
                continue;
            }
            let profile = tempfile::tempdir()?;
            let mut caps = serde_json::Map::new();
            caps.insert("browserName".into(), json!("chrome"));
            caps.insert(
                "goog:chromeOptions".into(),
                json!({
                    "binary": CHROMIUM,
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--disable-quic", "--disable-dev-shm-usage",
                        "--disable-features=Translate,MediaRouter,OptimizationHints",
                        "--autoplay-policy=no-user-gesture-required",
                        format!("--user-data-dir={}", profile.path().display()),
                        format!("--window-size={},{}", size.0, size.1),
                    ],
                }),
            );
            let client =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(caps)
                    .connect(&format!("http://127.0.0.1:{port}"))
                    .await;
            match client {
                Ok(client) => {
                    client.set_window_size(size.0, size.1).await.ok();
                    return Ok(Browser {
                        client,
                        driver,
                        _profile: profile,
                        base: base.trim_end_matches('/').to_string(),
                    });
                }
                Err(e) => {
                    last = anyhow!("connecting to chromedriver: {e}");
                    let _ = driver.kill();
                    let _ = driver.wait();
                }
            }
        }
        Err(last)
    }

    pub async fn goto(&self, path: &str) -> Result<()> {
        self.client.goto(&format!("{}{path}", self.base)).await?;
        Ok(())
    }

    /// The current path and query.
    pub async fn path(&self) -> Result<String> {
        let url = self.client.current_url().await?;
        Ok(match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        })
    }

    /// Wait until `css` matches an element whose text contains `text`
    /// (any element, if `text` is empty); its text.
    pub async fn wait_text(&self, css: &str, text: &str, secs: u64) -> Result<String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut seen = String::new();
        loop {
            if let Ok(els) = self.client.find_all(Locator::Css(css)).await {
                for el in els {
                    if let Ok(t) = el.text().await {
                        if t.contains(text) {
                            return Ok(t);
                        }
                        seen = t;
                    }
                }
            }
            if Instant::now() > deadline {
                let body = self.body_text().await.unwrap_or_default();
                bail!("no {css} containing {text:?} within {secs} s (last seen {seen:?}); page {}:\n{body}", self.path().await.unwrap_or_default());
            }
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }

    /// Wait until nothing matches `css`.
    pub async fn wait_gone(&self, css: &str, secs: u64) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if self.client.find_all(Locator::Css(css)).await?.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{css} still there after {secs} s");
            }
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }

    /// Wait until the page's path starts with `prefix`.
    pub async fn wait_path(&self, prefix: &str, secs: u64) -> Result<String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let p = self.path().await?;
            if p.starts_with(prefix) {
                return Ok(p);
            }
            if Instant::now() > deadline {
                bail!("still at {p}, not {prefix}, after {secs} s");
            }
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }

    pub async fn body_text(&self) -> Result<String> {
        Ok(self.client.find(Locator::Css("body")).await?.text().await?)
    }

    /// Click `css`. A live page may re-render the element between finding
    /// and clicking it (a stale element): find it again, up to 3 times.
    pub async fn click(&self, css: &str) -> Result<()> {
        let mut last = None;
        for _ in 0..3 {
            let el = match self.client.find(Locator::Css(css)).await {
                Ok(el) => el,
                Err(e) => {
                    last = Some(anyhow!("find {css}: {e}"));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            match el.click().await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    last = Some(anyhow!("click {css}: {e}"));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("click {css}")))
    }

    /// Type into the element `css` (appending to what is there).
    pub async fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let mut last = None;
        for _ in 0..3 {
            match self.client.find(Locator::Css(css)).await {
                Ok(el) => match el.send_keys(text).await {
                    Ok(()) => return Ok(()),
                    Err(e) => last = Some(anyhow!("type into {css}: {e}")),
                },
                Err(e) => last = Some(anyhow!("find {css}: {e}")),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(last.unwrap_or_else(|| anyhow!("type into {css}")))
    }

    /// Type keys into whatever has focus, as a keyboard-wedge scanner does.
    pub async fn type_focused(&self, text: &str) -> Result<()> {
        let el = self.client.active_element().await?;
        el.send_keys(text).await?;
        Ok(())
    }

    /// The id of the focused element.
    pub async fn focused_id(&self) -> Result<String> {
        let el = self.client.active_element().await?;
        Ok(el.attr("id").await?.unwrap_or_default())
    }

    pub async fn js(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        Ok(self.client.execute(script, args).await?)
    }

    /// Log in on the login page with a staff id and PIN.
    pub async fn login(&self, staff_id: &str, pin: &str) -> Result<()> {
        self.goto("/login").await?;
        self.type_into("#staff_id", staff_id).await?;
        self.type_into("#pin", pin).await?;
        self.click("form.login button[type=submit]").await?;
        Ok(())
    }

    /// Save a screenshot of the page as `<name>-<width>.png`.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir)?;
        let width = self
            .js("return window.innerWidth", vec![])
            .await?
            .as_u64()
            .unwrap_or(0);
        let png = self.client.screenshot().await?;
        let path = dir.join(format!("{name}-{width}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Run axe-core on the page; the serious and critical violations, as
    /// "rule: description (n nodes: selectors)".
    pub async fn axe(&self) -> Result<Vec<String>> {
        let path = std::env::var_os("STORENODE_AXE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("vendor/axe-core/axe.min.js")
            });
        let source = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{}: axe-core is missing (it is vendored in tests/vendor/axe-core)",
                path.display()
            )
        })?;
        self.js(&source, vec![]).await?;
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                    .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5) }))))
                    .catch(e => done([{ id: 'axe-error', impact: 'critical', help: String(e), nodes: [] }]));",
                vec![],
            )
            .await?;
        let mut out = Vec::new();
        for v in result.as_array().cloned().unwrap_or_default() {
            let impact = v["impact"].as_str().unwrap_or("");
            if impact == "serious" || impact == "critical" {
                out.push(format!(
                    "{} ({impact}): {} — {}",
                    v["id"].as_str().unwrap_or(""),
                    v["help"].as_str().unwrap_or(""),
                    v["nodes"]
                ));
            }
        }
        Ok(out)
    }

    /// Close the browser session and its driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
