/* 店小二 console: live updates. The page's event stream (/console/<shop>/events, SSE with
 * keepalive pings) says when the shop's conversations or handoff queue changed; the queue and
 * the conversations list then redraw, and a transcript redraws when its own conversation
 * changed. While someone is typing in a field the page is not redrawn: a notice offers it. */
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me || !window.EventSource) return;
  var page = me.getAttribute("data-page") || "";
  var conversation = me.getAttribute("data-conversation") || "";
  var notice = document.getElementById("live");
  var stream = new EventSource(me.getAttribute("data-events"));
  // Once the page is being left (a form sent, a link followed) a change is not redrawn: the
  // change may be the agent's own action, and a reload now would cancel where it leads.
  var leaving = false;
  function leave() { leaving = true; stream.close(); }
  document.addEventListener("submit", leave, true);
  window.addEventListener("beforeunload", leave);

  function typing() {
    var fields = document.querySelectorAll("textarea, input:not([type=hidden]):not([type=checkbox])");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value && fields[i].value.trim() && fields[i].type !== "date") return true;
    }
    var active = document.activeElement;
    return !!active && (active.tagName === "TEXTAREA" || active.tagName === "INPUT");
  }

  stream.addEventListener("change", function (e) {
    if (leaving) return;
    var data = JSON.parse(e.data);
    var mine = page === "queue" || page === "conversations" ||
      (page === "transcript" && (data.conversations.indexOf(conversation) >= 0 ||
                                 data.handoffs.indexOf(conversation) >= 0));
    if (!mine) return;
    if (!typing()) { location.reload(); return; }
    if (notice) notice.hidden = false;
  });
})();
