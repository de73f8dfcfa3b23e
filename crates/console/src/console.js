// frontline console: the little the pages need beyond HTML.
// - A conversation's timeline follows new events live (server-sent events whose data is the
//   rendered entries), resuming where it left off if the connection drops.
// - The playground's transcript starts scrolled to the latest message.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const timeline = document.querySelector("#timeline[data-live]");
  if (timeline && window.EventSource) {
    const source = new EventSource(timeline.dataset.live);
    source.addEventListener("entries", (e) => {
      timeline.insertAdjacentHTML("beforeend", e.data);
      timeline.dataset.lastSeq = e.lastEventId;
      timeline.lastElementChild.scrollIntoView({ block: "nearest" });
    });
  }
  const transcript = document.querySelector("#transcript");
  if (transcript && transcript.lastElementChild) {
    transcript.lastElementChild.scrollIntoView({ block: "nearest" });
  }
});
