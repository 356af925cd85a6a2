import { useAuth } from "./state/auth";
import { navigate, useRoute } from "./state/router";
import ProjectPicker from "./pages/ProjectPicker";
import SignIn from "./pages/SignIn";
import Workspace from "./pages/Workspace";
import { Empty } from "./components/Notice";

/** Signed out: the sign-in screen, whatever the address (signing in returns to it). */
export default function App() {
  const { key } = useAuth();
  const route = useRoute();
  if (!key) return <SignIn />;
  switch (route.name) {
    case "home":
      return <ProjectPicker />;
    case "missing":
      return (
        <main className="pw-page">
          <Empty title="There is nothing at this address">
            <button type="button" onClick={() => navigate({ name: "home" })}>
              Go to the projects
            </button>
          </Empty>
        </main>
      );
    default:
      return <Workspace key={route.projectId} route={route} />;
  }
}
