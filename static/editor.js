// The post form, enhanced: an image uploaded from the form goes where the
// cursor was in the body, not at its end. Without this script the server adds
// it at the end; nothing else depends on it.

const form = document.getElementById("post-form");
const body = document.getElementById("body");
const cursor = document.getElementById("cursor");

if (form && body && cursor) {
  // Until the author has been in the body, its selection says nothing about
  // where they want the image (browsers start it at 0).
  let placed = false;
  for (const event of ["focus", "click", "keyup", "select"]) {
    body.addEventListener(event, () => {
      placed = true;
    });
  }
  form.addEventListener("submit", () => {
    cursor.value = placed ? String(body.selectionStart) : "";
  });
}
