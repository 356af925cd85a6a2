/**
 * Who is signed in: the API key, kept in sessionStorage (gone when the tab closes), and the
 * client built on it. A 401 from any call signs the person out with a message that says why.
 */
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import { ApiClient } from "../api/client";

const KEY_STORAGE = "pathweaver.studio.key";

export const KEY_STOPPED_WORKING =
  "The server stopped accepting your API key (it may have been revoked or the server was reset). Sign in with a valid key; unsaved pathway edits are kept in this tab.";

interface Auth {
  key: string | null;
  client: ApiClient | null;
  /** Why the person was signed out, shown on the sign-in screen. */
  notice: string | null;
  signIn: (key: string) => void;
  signOut: (notice?: string | null) => void;
}

const AuthContext = createContext<Auth | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [key, setKey] = useState<string | null>(() => sessionStorage.getItem(KEY_STORAGE));
  const [notice, setNotice] = useState<string | null>(null);

  const signOut = useCallback((why: string | null = null) => {
    sessionStorage.removeItem(KEY_STORAGE);
    setKey(null);
    setNotice(why);
  }, []);

  const signIn = useCallback((newKey: string) => {
    sessionStorage.setItem(KEY_STORAGE, newKey);
    setNotice(null);
    setKey(newKey);
  }, []);

  const client = useMemo(() => (key ? new ApiClient(key, () => signOut(KEY_STOPPED_WORKING)) : null), [key, signOut]);
  const value = useMemo(() => ({ key, client, notice, signIn, signOut }), [key, client, notice, signIn, signOut]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error("useAuth needs an AuthProvider");
  return auth;
}

/** The client of a signed-in screen (those are only rendered with a key). */
export function useClient(): ApiClient {
  const { client } = useAuth();
  if (!client) throw new Error("useClient needs a signed-in person");
  return client;
}

/** `sk_…AbC9`: enough to recognise a key, not to use it. */
export function keyHint(key: string): string {
  return `${key.slice(0, 3)}…${key.slice(-4)}`;
}
