(function () {
  "use strict";
  const { request, onSubmit } = window.MusicApi;

  onSubmit(document.getElementById("register-form"), async ({ username, password, fullname }) => {
    await request("POST", "users", { username, password, fullname });
    window.location.assign("/login?registered=1");
  });
})();
