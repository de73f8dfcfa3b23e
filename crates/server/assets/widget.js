// frontline web chat widget. Embed with:
//   <script src="https://support.example/widget.js" defer
//           data-user-id="…" data-identifier-hash="…"></script>
// (data-user-id and data-identifier-hash only for signed-in users; the hash is computed on the
// shop's server as hex HMAC-SHA256(identity secret, user id)).
(function () {
  "use strict";
  var script = document.currentScript;
  var base = script && script.src ? new URL(script.src, location.href).origin : "";
  var cfg = (script && script.dataset) || {};
  var root = document.createElement("section");
  root.id = "frontline-chat";
  root.setAttribute("aria-label", "Customer support chat");
  root.innerHTML =
    '<style>' +
    '#frontline-chat{position:fixed;right:16px;bottom:16px;width:340px;max-height:70vh;display:flex;flex-direction:column;' +
    'font:14px/1.4 system-ui,sans-serif;border:1px solid #ccd;border-radius:10px;background:#fff;box-shadow:0 4px 20px #0002}' +
    '#frontline-chat header{padding:10px 12px;background:#234;color:#fff;border-radius:10px 10px 0 0;font-weight:600}' +
    '#frontline-chat ol{list-style:none;margin:0;padding:10px;overflow-y:auto;flex:1;min-height:160px}' +
    '#frontline-chat li{margin:6px 0;padding:7px 10px;border-radius:8px;white-space:pre-wrap;max-width:85%}' +
    '#frontline-chat li.customer{background:#def;margin-left:auto}' +
    '#frontline-chat li.agent{background:#f2f2f5}' +
    '#frontline-chat form{display:flex;border-top:1px solid #ccd}' +
    '#frontline-chat input{flex:1;border:0;padding:10px;font:inherit;border-radius:0 0 0 10px}' +
    '#frontline-chat button{border:0;background:#234;color:#fff;padding:0 14px;border-radius:0 0 10px 0}' +
    '#frontline-chat li.choices{background:none;padding:0;display:flex;gap:6px}' +
    '#frontline-chat li.choices button{border-radius:6px;padding:6px 0;flex:1;font:inherit;cursor:pointer}' +
    '</style>' +
    '<header>Support</header><ol aria-live="polite"></ol>' +
    '<form><input name="text" autocomplete="off" placeholder="Type your message…" aria-label="Message">' +
    '<button type="submit">Send</button></form>';
  var list = root.querySelector("ol");
  var form = root.querySelector("form");
  var input = root.querySelector("input");
  var typing = null; // the agent bubble being streamed into
  var seen = {}; // reply ids already shown (a reconnect may replay)

  // A reply's text, with its markdown links (an answer's source) as links; everything else is
  // text, never markup.
  function fill(el, text) {
    el.textContent = "";
    var link = /\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)/g, last = 0, m;
    while ((m = link.exec(text))) {
      el.appendChild(document.createTextNode(text.slice(last, m.index)));
      var a = document.createElement("a");
      a.href = m[2];
      a.textContent = m[1];
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      el.appendChild(a);
      last = link.lastIndex;
    }
    el.appendChild(document.createTextNode(text.slice(last)));
  }

  function bubble(who, text) {
    var li = document.createElement("li");
    li.className = who;
    fill(li, text);
    list.appendChild(li);
    list.scrollTop = list.scrollHeight;
    return li;
  }

  function listen() {
    var events = new EventSource(base + "/v1/webchat/events", { withCredentials: true });
    events.addEventListener("token", function (e) {
      if (!typing) typing = bubble("agent", "");
      typing.textContent += e.data;
      root.dataset.tokens = String((+root.dataset.tokens || 0) + 1); // streamed pieces so far
      list.scrollTop = list.scrollHeight;
    });
    events.addEventListener("message", function (e) {
      var reply = JSON.parse(e.data);
      if (seen[e.lastEventId]) { typing = null; return; }
      seen[e.lastEventId] = true;
      if (!typing) typing = bubble("agent", "");
      fill(typing, reply.text);
      typing.dataset.id = e.lastEventId;
      typing.classList.add("done");
      typing = null;
      if (reply.choices && reply.choices.length) offer(reply.choices);
    });
  }

  // One-tap answers (the survey's rating strip): a tap sends the choice as the customer's
  // message, and the strip goes.
  function offer(choices) {
    var li = document.createElement("li");
    li.className = "choices";
    choices.forEach(function (c) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = c.title;
      b.dataset.choice = c.id;
      b.addEventListener("click", function () { li.remove(); send(c.title); });
      li.appendChild(b);
    });
    list.appendChild(li);
    list.scrollTop = list.scrollHeight;
  }

  function send(text) {
    bubble("customer", text);
    var body = { text: text };
    if (cfg.userId) { body.user_id = cfg.userId; body.identifier_hash = cfg.identifierHash; }
    fetch(base + "/v1/webchat/messages", {
      method: "POST",
      credentials: "include",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    }).then(function (r) {
      if (!r.ok) bubble("agent", "Sorry, that message could not be sent. Please try again.");
    });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    var strip = list.querySelector("li.choices");
    if (strip) strip.remove();
    send(text);
  });

  function start() {
    document.body.appendChild(root);
    // Make sure the session cookie exists before the event stream opens.
    fetch(base + "/v1/webchat/session", { credentials: "include" }).then(listen);
  }
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
