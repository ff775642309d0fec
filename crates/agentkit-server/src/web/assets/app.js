// agentd's web view: follows a task's events live. Everything from the
// server is put into the page with textContent only (never innerHTML):
// task titles, model text and tool output are attacker-controlled.
(function () {
  "use strict";
  var list = document.getElementById("transcript");
  if (!list) return;
  var status = document.getElementById("live-status");
  var task = list.getAttribute("data-task");
  var url = "/api/tasks/" + encodeURIComponent(task) + "/events";

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function looksLikeDiff(text) {
    return /^(diff --git |@@ -\d)/m.test(text) || (/^--- \S/m.test(text) && /^\+\+\+ \S/m.test(text));
  }

  function block(text) {
    var pre = el("pre", "out");
    if (looksLikeDiff(text)) {
      pre.className = "out diff";
      text.split("\n").forEach(function (line) {
        var c = line.charAt(0);
        var cls = c === "+" ? "add" : c === "-" ? "del" : c === "@" ? "hunk" : "";
        pre.appendChild(el("span", cls, line + "\n"));
      });
    } else {
      pre.textContent = text;
    }
    return pre;
  }

  function add(id, kind, title, body) {
    var item = el("li", "ev ev-" + kind);
    item.setAttribute("data-id", id);
    item.appendChild(el("div", "title", title));
    if (body) item.appendChild(block(body));
    list.appendChild(item);
    item.scrollIntoView({ block: "nearest" });
  }

  function render(id, ev) {
    switch (ev.type) {
      case "run_started":
        add(id, "run", (ev.resumed ? "Run resumed" : "Run started") + " with " + ev.model);
        break;
      case "model_call_finished":
        var calls = (ev.tool_calls || []).map(function (c) { return c.name; }).join(", ");
        add(id, "model", "Model, step " + ev.step + (calls ? " → " + calls : ""), ev.text || "");
        break;
      case "tool_call_started":
        add(id, "tool-start", "▶ " + ev.name, ev.arguments);
        break;
      case "tool_call_finished":
        add(id, ev.is_error ? "tool-error" : "tool", (ev.is_error ? "✗ " : "✓ ") + ev.name +
          " (" + ev.duration_ms + " ms)", ev.content);
        break;
      case "verification_started":
        add(id, "verify", "Verification " + ev.attempt + " started");
        break;
      case "verification_finished":
        var v = ev.verification || { checks: [] };
        add(id, v.passed ? "verify-pass" : "verify-fail",
          "Verification " + ev.attempt + ": " + (v.passed ? "passed" : "failed"),
          v.checks.map(function (c) { return c.name + ": " + c.status + "\n" + c.output; }).join("\n"));
        break;
      case "published":
        add(id, "published", "Pull request #" + ev.pull_request.id + ": " + ev.pull_request.url);
        break;
      case "publish_skipped":
        add(id, "note", "Not published: " + ev.reason);
        break;
      case "nudged":
        add(id, "note", "Nudged", ev.message);
        break;
      case "hook_decision":
        add(id, "note", "Policy at " + ev.point, ev.decision);
        break;
      case "run_finished":
        var stop = ev.outcome && ev.outcome.stop_reason ? ev.outcome.stop_reason.stop : "?";
        add(id, "finished", "Run finished: " + stop);
        break;
      default:
        break;
    }
    list.setAttribute("data-last-id", id);
  }

  var source = new EventSource(url);
  source.onopen = function () { status.textContent = "live"; };
  source.onmessage = function (message) {
    var ev;
    try { ev = JSON.parse(message.data); } catch (e) { return; }
    render(message.lastEventId, ev);
  };
  source.addEventListener("end", function (message) {
    var state = "";
    try { state = JSON.parse(message.data).state; } catch (e) { /* keep empty */ }
    status.textContent = "ended: " + state;
    var badge = document.getElementById("task-state");
    if (badge) badge.textContent = state;
    source.close();
  });
  source.onerror = function () {
    if (source.readyState !== EventSource.CLOSED) status.textContent = "reconnecting…";
  };
})();
