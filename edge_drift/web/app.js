// edge-drift's page: chat with streamed answers, blind A/B votes that teach the profile, the profile as a chart.
// Plain JavaScript against the server's own OpenAI-compatible API; nothing is loaded from outside this server.
"use strict";

const $ = (id) => document.getElementById(id);
// Choices persist in this browser; the API key only for this tab's session (it is a secret).
const keeper = (storage) => ({
  get: (key, fallback) => storage.getItem("edge-drift." + key) ?? fallback,
  set: (key, value) => storage.setItem("edge-drift." + key, value),
});
const store = keeper(localStorage), secret = keeper(sessionStorage);
const betaKey = () => "beta." + state.user;  // each user has their own steering strength
const state = {
  user: store.get("user", ""), key: secret.get("key", ""),
  messages: [], controller: null, pair: null, lastVote: null, weights: null, attributes: [],
  betaMoved: false,  // until the slider is moved, drift uses (and it shows) the profile's beta
};

// -- talking to the server ----------------------------------------------------------------------------
function headers(extra = {}) {
  const result = { "Content-Type": "application/json", ...extra };
  if (state.user) result["X-Edge-Drift-User"] = state.user;
  if (state.key) result["Authorization"] = "Bearer " + state.key;
  return result;
}

async function errorFrom(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body.error && body.error.message) message = body.error.message;
  } catch (_) { /* not JSON: keep the status line */ }
  if (response.status === 401) $("key-box").hidden = false;
  const error = new Error(message);
  error.status = response.status;
  return error;
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: headers(options.headers) });
  if (!response.ok) throw await errorFrom(response);
  return response;
}

function showError(error) {
  if (error && error.name === "AbortError") return;
  const box = $("alert");
  box.textContent = "Error: " + (error && error.message ? error.message : String(error));
  box.hidden = false;
}

function clearError() {
  $("alert").hidden = true;
  $("alert").textContent = "";
}

// One streamed chat completion; onText gets the text so far. Resolves with what the server said about it.
async function streamChat(body, onText, signal) {
  const response = await fetch("/v1/chat/completions", {
    method: "POST", headers: headers(), signal, body: JSON.stringify({ ...body, stream: true }),
  });
  if (!response.ok) throw await errorFrom(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "", text = "", id = null, finish = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const line = buffer.slice(0, cut).trim();
      buffer = buffer.slice(cut + 2);
      if (!line.startsWith("data: ")) continue;
      const data = line.slice(6);
      if (data === "[DONE]") return { text, id, finish, response };
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(chunk.error.message);
      id = chunk.id;
      const choice = chunk.choices && chunk.choices[0];
      if (choice && choice.delta && choice.delta.content) {
        text += choice.delta.content;
        onText(text);
      }
      if (choice && choice.finish_reason) finish = choice.finish_reason;
    }
  }
  return { text, id, finish, response };
}

function steering() {
  const strategy = $("strategy").value;
  const body = { model: strategy === "plain" ? "edge-drift-plain" : "edge-drift", strategy };
  if (strategy === "drift" && state.betaMoved) body.beta = Number($("beta").value);
  return body;
}

// -- users --------------------------------------------------------------------------------------------
async function loadUsers() {
  const data = await (await api("/v1/profiles")).json();
  const names = new Set(data.data.map((profile) => profile.user));
  if (state.user) names.add(state.user);
  const select = $("user-select");
  select.replaceChildren(new Option("(nobody: plain answers)", ""));
  [...names].sort().forEach((name) => select.add(new Option(name, name)));
  select.value = state.user;
}

function setUser(name) {
  state.user = name;
  store.set("user", name);
  loadBeta();
  state.messages = [];
  state.lastVote = null;
  state.weights = null;
  $("undo").disabled = true;
  $("moved").textContent = "";
  $("profile-user").textContent = name || "you";
  renderMessages();
  refreshProfile().catch(showError);
}

async function addUser(event) {
  event.preventDefault();
  clearError();
  const name = $("new-user").value.trim();
  if (!name) return showError(new Error("type a name for the new user"));
  // The server's rule (names become folder names); checked here too because a '/' never reaches it as a name.
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name) || name.includes("..")) {
    return showError(new Error(`invalid user name '${name}': use 1-64 letters, digits, '_', '.' or '-', ` +
      "starting with a letter or digit"));
  }
  try {
    await api(`/v1/profiles/${encodeURIComponent(name)}`);
  } catch (error) {
    if (error.status !== 404) return showError(error);  // 404 = a new user, which is what we want
  }
  $("new-user").value = "";
  setUser(name);
  await loadUsers().catch(showError);
}

// -- chat ---------------------------------------------------------------------------------------------
function messageItem(role, text) {
  const item = document.createElement("li");
  item.className = role;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = role === "user" ? "You" : "Assistant";
  const body = document.createElement("span");
  body.className = "body";
  body.textContent = text;
  item.append(who, body);
  return item;
}

function renderMessages() {
  $("messages").replaceChildren(...state.messages.map((m) => messageItem(m.role, m.content)));
  $("notice").hidden = true;
}

async function sendChat(event) {
  event.preventDefault();
  clearError();
  const text = $("chat-input").value.trim();
  if (!text || state.controller) return;
  $("chat-input").value = "";
  state.messages.push({ role: "user", content: text });
  $("messages").append(messageItem("user", text));
  const item = messageItem("assistant", "…");
  $("messages").append(item);
  const body = item.querySelector(".body");
  state.controller = new AbortController();
  $("send").disabled = true;
  $("stop").disabled = false;
  let answer = "";
  try {
    const result = await streamChat({ ...steering(), messages: state.messages, max_tokens: 200, trim_history: true },
      (sofar) => { answer = sofar; body.textContent = sofar; item.scrollIntoView({ block: "end" }); },
      state.controller.signal);
    const notice = result.response.headers.get("X-Edge-Drift-Notice");
    $("notice").hidden = !notice;
    $("notice").textContent = notice ? "Note: " + notice : "";
  } catch (error) {
    if (error.name === "AbortError") answer += " [stopped]";
    else showError(error);
  } finally {
    state.controller = null;
    $("send").disabled = false;
    $("stop").disabled = true;
  }
  body.textContent = answer || "(no answer)";
  if (answer) state.messages.push({ role: "assistant", content: answer });
  else state.messages.pop();
}

// -- compare and vote ---------------------------------------------------------------------------------
function setVoting(enabled) {
  ["vote-a", "vote-b", "vote-tie", "vote-bad"].forEach((id) => { $(id).disabled = !enabled; });
}

async function compare(event) {
  event.preventDefault();
  clearError();
  const prompt = $("compare-input").value.trim();
  if (!prompt) return showError(new Error("type a prompt to compare two answers on"));
  if (!state.user) return showError(new Error("pick or create a user first: votes teach that user's profile"));
  setVoting(false);
  $("compare").disabled = true;
  $("vote-result").textContent = "";
  ["a", "b"].forEach((side) => {
    $("text-" + side).textContent = "";
    $("label-" + side).textContent = "";
    $("answer-" + side).classList.remove("chosen");
  });
  // Random order, no labels until the vote: neither answer may be recognisable by its place.
  const informative = $("round").value === "informative";
  const flip = Math.random() < 0.5;
  const kinds = informative ? (flip ? ["+", "-"] : ["-", "+"]) : (flip ? ["steered", "plain"] : ["plain", "steered"]);
  const sides = {};
  try {
    // the informative round asks the server which attribute a vote teaches most, then leans each answer one way
    const question = informative
      ? await (await api(`/v1/profiles/${encodeURIComponent(state.user)}/question`)).json() : null;
    for (const [index, side] of ["a", "b"].entries()) {
      const kind = kinds[index];
      const steered = steering();
      const body = question ? { ...steered, model: "edge-drift", strategy: steered.strategy === "plain" ? "drift" : steered.strategy,
        lean: kind + question.attribute } : kind === "steered" ? steered : { model: "edge-drift-plain" };
      const seed = Math.floor(Math.random() * 1e9);
      const result = await streamChat({ ...body, messages: [{ role: "user", content: prompt }],
        max_tokens: defaults.compare.max_tokens, temperature: defaults.compare.temperature, seed },
        (sofar) => { $("text-" + side).textContent = sofar; });
      sides[side] = { id: result.id, kind, strategy: result.response.headers.get("X-Edge-Drift-Strategy"),
        attribute: question && question.attribute };
    }
    state.pair = { ...sides, question };
    setVoting(true);
    $("vote-a").focus();
  } catch (error) {
    showError(error);
  } finally {
    $("compare").disabled = false;
  }
}

function describeMoves(moved) {
  return moved.map((m) => `${m.attribute} ${signed(m.before)} → ${signed(m.after)}`).join(", ");
}

function signed(value) {
  return (value >= 0 ? "+" : "") + value.toFixed(2);
}

async function vote(winner) {
  if (!state.pair) return;
  clearError();
  const pair = state.pair;
  state.pair = null;
  setVoting(false);
  ["a", "b"].forEach((side) => {
    const info = pair[side];
    $("label-" + side).textContent = info.attribute ? `(${info.kind === "+" ? "more" : "less"} ${info.attribute})`
      : info.kind === "plain" ? "(plain)"
      : info.strategy === "plain" ? "(your profile: none yet, so plain)" : `(${info.strategy}, steered by your profile)`;
  });
  if (winner === "a" || winner === "b") $("answer-" + winner).classList.add("chosen");
  $("vote-result").textContent = "Learning from your vote…";
  try {
    const result = await (await api("/v1/feedback", {
      method: "POST", body: JSON.stringify({ a: pair.a.id, b: pair.b.id, winner }),
    })).json();
    state.lastVote = result.id;
    $("undo").disabled = false;
    $("vote-result").textContent = (result.fitted
      ? `Learned: ${result.n_pairs} pair(s) in all. Moved most: ${describeMoves(result.moved)}.`
      : `Recorded (${winner === "tie" ? "a tie" : "both bad"}): kept, but it does not change the profile.`)
      + (pair.question ? ` This one was about: ${pair.question.about}.` : "");
    await refreshProfile(result.fitted ? result.moved : null);
  } catch (error) {
    $("vote-result").textContent = "";
    showError(error);
  }
}

async function undo() {
  if (!state.lastVote) return;
  clearError();
  const id = state.lastVote;
  state.lastVote = null;
  $("undo").disabled = true;
  try {
    await api(`/v1/feedback/${encodeURIComponent(id)}`, { method: "DELETE" });
    $("vote-result").textContent = "Your last vote was taken back.";
    await refreshProfile();
  } catch (error) {
    showError(error);
  }
}

// -- the profile panel --------------------------------------------------------------------------------
async function refreshProfile(moved = null) {
  if (!state.user) return showProfile(null);
  let profile = null;
  try {
    profile = await (await api(`/v1/profiles/${encodeURIComponent(state.user)}`)).json();
  } catch (error) {
    if (error.status !== 404) throw error;
  }
  showProfile(profile, moved);
}

function loadBeta() {
  // until this user's slider is moved, drift uses (and the slider shows) their profile's beta
  const saved = store.get(betaKey(), null);
  state.betaMoved = saved !== null;
  $("beta").value = saved ?? $("beta").defaultValue;
  showBeta();
}

function showBeta() {
  // two decimals, three where the value needs them (the default 0.125 sits between the 0.05 marks)
  const text = Number($("beta").value).toFixed(3);
  $("beta-value").textContent = "beta " + (text.endsWith("0") ? text.slice(0, -1) : text);
}

function showProfile(profile, moved = null) {
  if (!state.betaMoved) {
    $("beta").value = profile ? profile.beta : $("beta").defaultValue;
    showBeta();
  }
  if (document.activeElement !== $("statement")) $("statement").value = (profile && profile.statement) || "";
  if (!profile) {
    $("profile-stats").textContent = "no profile yet: say how you like answers, vote in Compare mode or import pairs";
    drawChart([]);
    state.weights = null;
    return;
  }
  const accuracy = profile.cv_accuracy == null ? "n/a" : profile.cv_accuracy.toFixed(2);
  $("profile-stats").textContent = `${profile.n_pairs} pair(s) · cv accuracy ${accuracy} · solver ${profile.solver}` +
    ` · top ${Math.min(profile.top_k, profile.attributes.length)} steer`;
  const before = state.weights;
  state.weights = Object.fromEntries(profile.attributes.map((a) => [a.name, a.weight]));
  if (!moved && before) {
    moved = profile.attributes
      .map((a) => ({ attribute: a.name, before: before[a.name] ?? 0, after: a.weight }))
      .filter((m) => Math.abs(m.after - m.before) > 1e-6)
      .sort((x, y) => Math.abs(y.after - y.before) - Math.abs(x.after - x.before)).slice(0, 3);
  }
  $("moved").textContent = moved && moved.length ? "What moved: " + describeMoves(moved) : "";
  drawChart(profile.attributes);
}

const SVG = "http://www.w3.org/2000/svg";

function svgNode(name, attributes, text) {
  const node = document.createElementNS(SVG, name);
  Object.entries(attributes).forEach(([key, value]) => node.setAttribute(key, value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function drawChart(attributes) {
  state.attributes = attributes;
  const chart = $("chart");
  const rows = [...attributes].sort((x, y) => y.weight - x.weight);
  const width = Math.max(chart.clientWidth || 320, 240), row = 22, label = 118, value = 48;
  const half = (width - label - value) / 2, middle = label + half;
  const scale = Math.max(...rows.map((a) => Math.abs(a.weight)), 1e-9);
  chart.replaceChildren();
  chart.setAttribute("height", Math.max(rows.length * row + 4, 24));
  chart.setAttribute("viewBox", `0 0 ${width} ${Math.max(rows.length * row + 4, 24)}`);
  chart.setAttribute("aria-label", rows.length
    ? "Attribute weights: " + rows.map((a) => `${a.name} ${signed(a.weight)}${a.selected ? " (used)" : ""}`).join(", ")
    : "No weights yet");
  rows.forEach((a, i) => {
    const y = i * row + 2, length = Math.abs(a.weight) / scale * half;
    chart.append(svgNode("text", { x: 0, y: y + 15 }, (a.selected ? "★ " : "  ") + a.name));
    chart.append(svgNode("rect", { x: a.weight >= 0 ? middle : middle - length, y: y + 3, width: Math.max(length, 1),
      height: row - 8, class: a.weight >= 0 ? "pos" : "neg" }));
    chart.append(svgNode("text", { x: width - value + 4, y: y + 15 }, signed(a.weight)));
  });
  if (rows.length) chart.append(svgNode("line", { x1: middle, x2: middle, y1: 0, y2: rows.length * row + 4, class: "axis" }));
}

async function download(path, filename) {
  clearError();
  if (!state.user) return showError(new Error("pick a user first"));
  try {
    const blob = await (await api(path)).blob();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = filename;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  } catch (error) {
    showError(error);
  }
}

async function deleteProfile() {
  clearError();
  if (!state.user) return showError(new Error("pick a user first"));
  if (!window.confirm(`Delete ${state.user}'s profile, pairs, votes and cached scores? This cannot be undone.`)) return;
  try {
    await api(`/v1/profiles/${encodeURIComponent(state.user)}`, { method: "DELETE" });
    $("moved").textContent = `Deleted ${state.user}'s profile.`;
    state.weights = null;
    await refreshProfile();
  } catch (error) {
    showError(error);
  }
}

async function saveStatement(event) {
  event.preventDefault();
  clearError();
  const text = $("statement").value.trim();
  if (!state.user) return showError(new Error("pick or create a user first"));
  if (!text) return showError(new Error("write a sentence first, e.g. Short, plain answers without jargon"));
  $("say").disabled = true;
  $("say-status").textContent = "saving…";
  try {
    const result = await (await api(`/v1/profiles/${encodeURIComponent(state.user)}/statement`, {
      method: "PUT", body: JSON.stringify({ text }),
    })).json();
    $("say-status").textContent = "saved: answers steer with it now";
    await refreshProfile(result.moved);
    await loadUsers();
  } catch (error) {
    $("say-status").textContent = "";
    showError(error);
  } finally {
    $("say").disabled = false;
  }
}

async function importPairs(event) {
  event.preventDefault();
  clearError();
  const file = $("import-file").files[0];
  if (!state.user) return showError(new Error("pick or create a user first"));
  if (!file) return showError(new Error("choose a JSONL file of pairs first"));
  const progress = $("import-progress"), status = $("import-status");
  $("import").disabled = true;
  try {
    const response = await api(`/v1/profiles/${encodeURIComponent(state.user)}/import?background=true`, {
      method: "POST", body: await file.text(), headers: { "Content-Type": "application/x-ndjson" },
    });
    let task = await response.json();
    progress.hidden = false;
    while (task.state === "queued" || task.state === "running") {
      progress.max = Math.max(task.total, 1);
      progress.value = task.done;
      status.textContent = task.state === "queued" ? "waiting for the assistant…"
        : `scoring pairs ${task.done}/${task.total}` + (task.eta_s == null ? "" : ` · about ${Math.ceil(task.eta_s)} s left`);
      await new Promise((resolve) => setTimeout(resolve, 400));
      task = await (await api(`/v1/tasks/${task.id}`)).json();
    }
    if (task.state === "error") throw new Error(task.error.message);
    progress.value = progress.max;
    status.textContent = `fitted ${task.result.n_pairs} pair(s) (${task.result.n_new_pairs} new) in ${task.result.seconds} s`;
    await refreshProfile(task.result.moved);
    await loadUsers();
  } catch (error) {
    status.textContent = "";
    showError(error);
  } finally {
    $("import").disabled = false;
  }
}

// -- wiring -------------------------------------------------------------------------------------------
function selectTab(name) {
  ["chat", "compare"].forEach((tab) => {
    $("tab-" + tab).setAttribute("aria-selected", String(tab === name));
    $(tab + "-panel").hidden = tab !== name;
  });
  store.set("tab", name);
}

function onKey(event) {
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName);
  if (typing || event.ctrlKey || event.metaKey || event.altKey || $("compare-panel").hidden) return;
  const button = { a: "vote-a", b: "vote-b", t: "vote-tie", x: "vote-bad", u: "undo" }[event.key.toLowerCase()];
  if (button && !$(button).disabled) {
    event.preventDefault();
    $(button).click();
  }
}

// The library owns every default (strategy, beta, how a compare round samples); the page asks the server.
let defaults = null;

async function init() {
  if (state.user) {  // the remembered user is chosen at once; the full list follows from the server
    $("user-select").add(new Option(state.user, state.user));
    $("user-select").value = state.user;
  }
  const users = loadUsers();
  users.catch(() => {});  // reported below, once the page is set up
  defaults = await api("/defaults").then((response) => response.json());
  $("beta").defaultValue = defaults.beta;
  $("user-select").addEventListener("change", (event) => setUser(event.target.value));
  $("new-user-form").addEventListener("submit", addUser);
  $("strategy").value = store.get("strategy", defaults.strategy);
  $("strategy").addEventListener("change", () => store.set("strategy", $("strategy").value));
  loadBeta();
  $("beta").addEventListener("input", () => { state.betaMoved = true; showBeta(); store.set(betaKey(), $("beta").value); });
  $("chat-form").addEventListener("submit", sendChat);
  $("chat-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("chat-form").requestSubmit(); }
  });
  $("stop").addEventListener("click", () => state.controller && state.controller.abort());
  $("clear").addEventListener("click", () => { state.messages = []; renderMessages(); });
  $("tab-chat").addEventListener("click", () => selectTab("chat"));
  $("tab-compare").addEventListener("click", () => selectTab("compare"));
  $("compare-form").addEventListener("submit", compare);
  $("vote-a").addEventListener("click", () => vote("a"));
  $("vote-b").addEventListener("click", () => vote("b"));
  $("vote-tie").addEventListener("click", () => vote("tie"));
  $("vote-bad").addEventListener("click", () => vote("both_bad"));
  $("undo").addEventListener("click", undo);
  $("export-json").addEventListener("click",
    () => download(`/v1/profiles/${encodeURIComponent(state.user)}/export`, `${state.user}.profile.json`));
  $("export-pairs").addEventListener("click",
    () => download(`/v1/profiles/${encodeURIComponent(state.user)}/export?format=jsonl`, `${state.user}.pairs.jsonl`));
  $("delete").addEventListener("click", deleteProfile);
  $("import-form").addEventListener("submit", importPairs);
  $("say-form").addEventListener("submit", saveStatement);
  $("key-box").addEventListener("submit", (event) => {
    event.preventDefault();
    state.key = $("api-key").value;
    secret.set("key", state.key);
    $("key-box").hidden = true;
    clearError();
    loadUsers().then(() => refreshProfile()).catch(showError);
  });
  document.addEventListener("keydown", onKey);
  window.addEventListener("resize", () => drawChart(state.attributes));
  selectTab(store.get("tab", "chat"));
  $("profile-user").textContent = state.user || "you";
  users.then(() => refreshProfile()).catch(showError);
}

init().catch(showError);
