// Progressive enhancement only: the pages work without it.
// Marks answered questions, so a respondent sees at a glance what is left.
document.addEventListener("DOMContentLoaded", function () {
  function mark(fieldset) {
    fieldset.classList.toggle("answered", !!fieldset.querySelector("input:checked"));
  }
  document.querySelectorAll("fieldset.question").forEach(function (fieldset) {
    mark(fieldset);
    fieldset.addEventListener("change", function () { mark(fieldset); });
  });
});
