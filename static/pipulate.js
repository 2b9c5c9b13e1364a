// Say so when the server cannot be reached, instead of leaving a polling card frozen;
// take the note away once a request gets through again.
(function () {
  var NOTE_ID = "lost-contact";
  document.addEventListener("htmx:sendError", function () {
    var box = document.getElementById("flash");
    if (!box || document.getElementById(NOTE_ID)) return;
    var note = document.createElement("p");
    note.id = NOTE_ID;
    note.className = "notice error";
    note.setAttribute("role", "alert");
    note.textContent = "Lost contact with Pipulate; it keeps trying. Is the server still running?";
    box.appendChild(note);
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var note = document.getElementById(NOTE_ID);
    if (note && event.detail.successful) note.remove();
  });
})();
