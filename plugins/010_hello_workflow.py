"""Hello workflow: the pattern to copy when writing a workflow.

Step 1 asks for a name. Step 2 offers a greeting built from it, which the user may edit.
Then the run can be finalized, which locks both steps, and unlocked again.
"""

from fasthtml.common import Input, Label, P, Strong

from pipulate.engine import Invalid, Step, Workflow


class HelloWorkflow(Workflow):
    app_name = "hello"
    display_name = "Hello Workflow"
    description = "Type a name, get a greeting: the smallest workflow, written to be copied."

    steps = [
        Step("step_01", "Your name", done="name", refill=True),
        Step("step_02", "Greeting", done="greeting", refill=True),
    ]

    # Step 1: the user types a name.
    def step_01_form(self, run, values):
        return self.form(
            run,
            "step_01",
            Label(
                "What is your name?",
                Input(name="name", value=values.get("name") or "", required=True, autofocus=True),
            ),
        )

    def step_01_submit(self, run, form):
        name = " ".join(form.get("name", "").split())
        if not name:
            raise Invalid("Type a name first.")
        if len(name) > 80:
            raise Invalid(f"That name is {len(name)} characters long; keep it to 80 or fewer.")

        return {"name": name}

    def step_01_done(self, run):
        return P("Name: ", Strong(run.get("name")))

    # Step 2: the greeting, prefilled from the name and editable.
    def step_02_form(self, run, values):
        greeting = values.get("greeting") or f"Hello, {run.get('name')}!"
        return self.form(
            run,
            "step_02",
            Label("Your greeting",
                  Input(name="greeting", value=greeting, required=True, autofocus=True)),
        )

    def step_02_submit(self, run, form):
        greeting = form.get("greeting", "").strip()
        if not greeting:
            raise Invalid("The greeting cannot be empty.")
        if len(greeting) > 200:
            raise Invalid(f"That greeting is {len(greeting)} characters long; keep it to 200.")

        return {"greeting": greeting}

    def step_02_done(self, run):
        return P(Strong(run.get("greeting")), id="greeting")
