// flowseg app: play and scrub a clip with its mask, mark the object on any frame, propagate, correct, export.
// Talks to flowseg/app/server.py; every request carries the token from the page's URL.
"use strict";

const token = new URLSearchParams(location.search).get("token") || "";
const $ = (id) => document.getElementById(id);
const view = $("view");
const context = view.getContext("2d");

let clip = null;          // /api/clip
let state = null;         // /api/state
let current = 0;          // the frame shown
let frameImage = null;
let maskImage = null;
let playing = false;
let drawing = null;       // the mark being drawn: {tool, start, points}
const marks = {};         // frame -> {box, points, negative_points, strokes, negative_strokes}, as sent
const history = {};       // frame -> its earlier marks (null: none), the latest last: what Undo brings back

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options, headers: {"Content-Type": "application/json", "X-Flowseg-Token": token}});
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function loadImage(url) {
  return new Promise((resolve) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => resolve(null);
    image.src = url;
  });
}

function say(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

// ---- Showing a frame --------------------------------------------------------------------------------------------

async function show(frame) {
  frame = Math.max(0, Math.min(clip.frames - 1, frame));
  current = frame;
  // 0-based, as the exported files (masks/00012.png) and the command line's @12 count them
  $("frame-label").textContent = `Frame ${frame} / ${clip.frames - 1}`;
  $("scrubber").value = frame;
  const version = state ? state.version : 0;
  const [image, mask] = await Promise.all([
    loadImage(`/api/frames/${frame}.jpg`), loadImage(`/api/masks/${frame}.png?v=${version}`)]);
  if (frame !== current) return;  // a later step overtook this one
  frameImage = image;
  maskImage = mask;
  draw();
  view.dataset.frame = frame;
}

function draw() {
  if (frameImage) context.drawImage(frameImage, 0, 0);
  if (maskImage) context.drawImage(maskImage, 0, 0);
  const mine = marks[current] || {};
  const scale = Math.max(2, clip.width / 300);
  context.lineWidth = scale / 2;
  const box = drawing && drawing.tool === "box" ? drawing.box : mine.box;
  if (box) {
    context.setLineDash([3 * scale, 2 * scale]);
    context.strokeStyle = "#3ad07a";
    context.strokeRect(box[0], box[1], box[2] - box[0], box[3] - box[1]);
    context.setLineDash([]);
  }
  const strokes = [...(mine.strokes || []).map((s) => [s, "#3ad07a"]),
                   ...(mine.negative_strokes || []).map((s) => [s, "#ff5a5a"])];
  if (drawing && drawing.stroke) strokes.push([drawing.stroke, drawing.tool === "brush" ? "#3ad07a" : "#ff5a5a"]);
  for (const [stroke, colour] of strokes) {
    context.globalAlpha = 0.6;
    context.strokeStyle = colour;
    context.lineWidth = stroke.width;
    context.lineCap = context.lineJoin = "round";
    context.beginPath();
    stroke.points.forEach(([x, y], i) => (i ? context.lineTo(x, y) : context.moveTo(x, y)));
    if (stroke.points.length === 1) context.lineTo(stroke.points[0][0] + 0.1, stroke.points[0][1]);
    context.stroke();
    context.globalAlpha = 1;
  }
  for (const [points, colour] of [[mine.points || [], "#3ad07a"], [mine.negative_points || [], "#ff5a5a"]]) {
    for (const [x, y] of points) {
      context.fillStyle = colour;
      context.strokeStyle = "#fff";
      context.lineWidth = scale / 2;
      context.beginPath();
      context.arc(x, y, 2 * scale, 0, 2 * Math.PI);
      context.fill();
      context.stroke();
    }
  }
}

// ---- Marking the object -----------------------------------------------------------------------------------------

function tool() {
  return document.querySelector("input[name=tool]:checked").value;
}

function pixel(event) {
  const rect = view.getBoundingClientRect();
  return [Math.round((event.clientX - rect.left) * view.width / rect.width),
          Math.round((event.clientY - rect.top) * view.height / rect.height)];
}

function busy() {
  return state && state.job.running;
}

view.addEventListener("mousedown", (event) => {
  if (busy() || event.button !== 0) return;
  view.focus();
  const at = pixel(event);
  const chosen = tool();
  drawing = {tool: chosen, start: at};
  if (chosen === "brush" || chosen === "erase") drawing.stroke = {points: [at], width: Number($("brush-size").value)};
  event.preventDefault();
});

view.addEventListener("mousemove", (event) => {
  if (!drawing) return;
  const at = pixel(event);
  if (drawing.tool === "box") {
    const [x0, y0] = drawing.start;
    drawing.box = [Math.min(x0, at[0]), Math.min(y0, at[1]), Math.max(x0, at[0]), Math.max(y0, at[1])];
  } else if (drawing.stroke) {
    drawing.stroke.points.push(at);
  }
  draw();
});

window.addEventListener("mouseup", (event) => {
  if (!drawing) return;
  const done = drawing;
  drawing = null;
  if (done.tool === "box" && (!done.box || done.box[2] - done.box[0] < 3 || done.box[3] - done.box[1] < 3)) {
    draw();
    return;
  }
  remember(current);
  if (!marks[current] || marks[current].absent) {
    marks[current] = {points: [], negative_points: [], strokes: [], negative_strokes: []};
  }
  const mine = marks[current];
  if (done.tool === "box") {
    mine.box = done.box;
  } else if (done.tool === "point" || done.tool === "negative") {
    mine[done.tool === "point" ? "points" : "negative_points"].push(done.start);
  } else {
    mine[done.tool === "brush" ? "strokes" : "negative_strokes"].push(done.stroke);
  }
  submit(current);
});

let sending = Promise.resolve();  // the requests that change marks, one after another

function inOrder(request) {
  // Send after every earlier change has been answered: the server works on requests at once, and an earlier
  // click's mask, made more slowly, must not land after a later one's (the frame would keep fewer marks).
  const answered = sending.then(request);
  sending = answered.catch(() => {});
  return answered;
}

async function submit(frame) {
  say(`Frame ${frame}: making the mask...`);
  const body = JSON.stringify(marks[frame]);  // the marks as they are now
  try {
    const answer = await inOrder(() => api(`/api/marks/${frame}`, {method: "POST", body}));
    state.version = answer.version;
    const share = (100 * answer.pixels / (clip.width * clip.height)).toFixed(1);
    say(answer.pixels === 0 ? `Frame ${frame}: the object is not here. Propagate to take it into account.` :
        `Frame ${frame}: mask of ${answer.pixels} pixels (${share}% of the frame). ` +
        "Add clicks to fix it, or Propagate to follow it.");
  } catch (error) {
    say(error.message, true);
  }
  await refresh().catch((error) => say(error.message, true));  // the server may have stopped meanwhile
  if (frame === current) await show(current);
}

function remember(frame) {
  // Keep the frame's marks as they are before a change, for Undo.
  (history[frame] = history[frame] || []).push(marks[frame] ? structuredClone(marks[frame]) : null);
}

function absent() {
  if (busy()) return;
  remember(current);
  marks[current] = {absent: true};
  submit(current);
}

async function forget() {
  if (marks[current]) remember(current);
  await clear(current);
}

async function clear(frame) {
  delete marks[frame];
  try {
    await inOrder(() => api(`/api/marks/${frame}`, {method: "DELETE"}));
  } catch (error) {
    say(error.message, true);
  }
  await follow();
}

async function undo() {
  // Back to the frame's marks before its last change: the mask they gave comes back (the same marks, the same mask).
  if (busy()) {
    say(`A ${state.job.kind} is running: undo when it ends.`, true);
    return;
  }
  const earlier = (history[current] || []).pop();
  if (earlier === undefined) {
    say(`Frame ${current}: nothing to undo.`);
  } else if (earlier === null) {
    await clear(current);
  } else {
    marks[current] = earlier;
    await submit(current);
  }
}

// ---- Jobs: propagate, export -------------------------------------------------------------------------------------

async function start(path, body, what) {
  try {
    state = await inOrder(() => api(path, {method: "POST", body: JSON.stringify(body || {})}));  // after the marks
  } catch (error) {
    say(error.message, true);
    return;
  }
  say(`${what}...`);
  await follow();
}

async function follow() {
  // Poll the job until it ends, showing its progress; then show what it gave.
  try {
    await refresh();
    while (busy()) {
      const job = state.job;
      $("progress").max = Math.max(job.total, 1);
      $("progress").value = job.done;
      say(`${job.kind === "export" ? "Exporting" : "Propagating"}: ${job.done} / ${job.total} frames`);
      await new Promise((resolve) => setTimeout(resolve, 250));
      await refresh();
    }
  } catch (error) {
    say(error.message, true);  // the server stopped
    return;
  }
  const job = state.job;
  $("progress").value = $("progress").max;
  if (job.error) say(job.error, true);
  else if (job.kind === "export") {
    say(`Exported to ${clip.output}`);
    showFiles(job.files || []);
  } else if (job.kind === "propagate") {
    const suspects = state.suspects.join(", ");
    say(`Propagated. Least confident frames: ${suspects || "none"}; correct one with new marks, then Propagate.`);
  }
  await show(current);
}

function showFiles(files) {
  const list = $("files");
  list.replaceChildren();
  for (const name of files) {
    const item = document.createElement("li");
    if (name.endsWith("/")) {
      item.textContent = name;
    } else {
      const link = document.createElement("a");
      link.href = `/files/${encodeURIComponent(name)}`;
      link.textContent = name;
      link.download = name;
      item.append(link);
    }
    list.append(item);
  }
}

async function refresh() {
  state = await api("/api/state");
  for (const id of ["propagate", "export", "undo", "forget", "absent"]) $(id).disabled = state.job.running;
  renderTimeline();
}

function renderTimeline() {
  const timeline = $("timeline");
  timeline.replaceChildren();
  const place = (frame, kind, title) => {
    const mark = document.createElement("div");
    mark.className = `mark ${kind}`;
    mark.dataset.frame = frame;
    mark.title = title;
    mark.style.left = `${(100 * (frame + 0.5)) / clip.frames}%`;
    mark.addEventListener("click", () => show(frame));
    timeline.append(mark);
  };
  state.given.forEach((t) => place(t, "given", `frame ${t}: given`));
  state.previewed.forEach((t) => place(t, "previewed", `frame ${t}: marked, not propagated yet`));
  state.suspects.forEach((t) => place(t, "suspect", `frame ${t}: confidence ${state.confidence[t]}`));
  const strip = $("confidence");
  strip.width = clip.frames;
  const paint = strip.getContext("2d");
  paint.clearRect(0, 0, strip.width, strip.height);
  state.confidence.forEach((value, t) => {
    paint.fillStyle = `hsl(${Math.round(120 * value)}, 70%, 45%)`;
    paint.fillRect(t, 0, 1, strip.height);
  });
}

// ---- Playing, keys ----------------------------------------------------------------------------------------------

async function play() {
  playing = !playing;
  $("play").textContent = playing ? "Pause" : "Play";
  const interval = 1000 / (clip.fps || 25);
  while (playing) {
    const started = performance.now();
    if (current >= clip.frames - 1) break;
    await show(current + 1);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, interval - (performance.now() - started))));
  }
  playing = false;
  $("play").textContent = "Play";
}

const TOOL_KEYS = {b: "box", p: "point", n: "negative", r: "brush", e: "erase"};

document.addEventListener("keydown", (event) => {
  if (event.target.tagName === "INPUT" && event.target.type !== "range" && event.target.type !== "radio") return;
  if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
    show(current + (event.key === "ArrowRight" ? 1 : -1));
  } else if (event.key === " ") {
    play();
  } else if (event.key === "z" && (event.ctrlKey || event.metaKey)) {
    undo();
  } else if (event.key === "Delete" || event.key === "Backspace") {
    forget();
  } else if (event.key === "a") {
    absent();
  } else if (TOOL_KEYS[event.key]) {
    $(`tool-${TOOL_KEYS[event.key]}`).checked = true;
  } else {
    return;
  }
  event.preventDefault();
});

$("scrubber").addEventListener("input", (event) => show(Number(event.target.value)));
$("play").addEventListener("click", play);
$("undo").addEventListener("click", undo);
$("forget").addEventListener("click", forget);
$("absent").addEventListener("click", absent);
$("propagate").addEventListener("click", () => start("/api/propagate", {}, "Propagating"));
$("export").addEventListener("click", () => {
  const alpha = [...document.querySelectorAll("#alpha-formats input:checked")].map((box) => box.value);
  start("/api/export", {alpha}, "Exporting");
});

async function main() {
  try {
    clip = await api("/api/clip");
  } catch (error) {
    say(error.message, true);
    return;
  }
  document.title = `${clip.name} - flowseg`;
  $("clip-name").textContent = `${clip.name} (${clip.width}x${clip.height}, ${clip.frames} frames)`;
  view.width = clip.width;
  view.height = clip.height;
  view.style.maxWidth = `calc(68vh * ${clip.width / clip.height})`;  // the whole frame in view, whatever its shape
  $("scrubber").max = clip.frames - 1;
  for (const format of clip.alpha_formats) {
    const label = document.createElement("label");
    label.innerHTML = `<input type="checkbox" value="${format}" ${format === "webm" ? "checked" : ""}> ${format}`;
    $("alpha-formats").append(label);
  }
  await refresh();
  await show(0);
  say("Draw a box around the object (or click on it), then Propagate.");
  document.body.dataset.ready = "true";
}

main();
