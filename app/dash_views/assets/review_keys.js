// Enter in a slider's number box commits the typed cutoff: Dash's slider box only commits on blur, which a
// keyboard user never reaches by pressing Enter. Blurring and refocusing keeps their place in the page.
document.addEventListener("keydown", function (event) {
  var box = event.target;
  if (event.key !== "Enter" || !box.matches || !box.matches("input.dash-range-slider-input")) {
    return;
  }
  event.preventDefault();
  box.blur();
  box.focus();
});
