import type { AccountPreferences, NotificationPreferences, User } from '@shop/sdk';
import { ProblemError } from '@shop/sdk';
import { useEffect, useState } from 'preact/hooks';

import { describeError, shop } from '../api';
import { ErrorBox, requireSignIn } from '../app';
import { when } from '../format';
import { useLoad, useTitle } from '../router';
import { Loading } from './common';

type Message = { kind: 'ok' | 'error'; text: string } | null;

function Feedback({ message }: { message: Message }) {
  if (!message) return null;
  return (
    <p role={message.kind === 'error' ? 'alert' : 'status'} class={`notice ${message.kind}`}>
      {message.text}
    </p>
  );
}

function failure(err: unknown): Message {
  if (err instanceof ProblemError && err.errors.length > 0) {
    return { kind: 'error', text: err.errors.map((e) => `${e.field}: ${e.message}`).join('; ') };
  }
  return { kind: 'error', text: describeError(err) };
}

/** Profile, account preferences, notification preferences and recent notifications. */
export function AccountPage() {
  useTitle('Your account');
  const signedIn = requireSignIn('/account');
  if (!signedIn) return null;
  return (
    <section class="content narrow account">
      <h1>Your account</h1>
      <Profile />
      <Preferences />
      <NotificationSettings />
      <History />
    </section>
  );
}

function Profile() {
  const me = useLoad(() => shop.account.me(), []);
  const [form, setForm] = useState({ full_name: '', phone: '' });
  const [message, setMessage] = useState<Message>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (me.data) setForm({ full_name: me.data.full_name, phone: me.data.phone ?? '' });
  }, [me.data]);
  if (me.error) return <ErrorBox error={me.error} retry={me.reload} />;
  if (!me.data) return <Loading what="your profile" />;
  const user: User = me.data;

  const save = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setMessage(null);
    try {
      me.setData(
        await shop.account.update({
          full_name: form.full_name.trim(),
          ...(form.phone.trim() ? { phone: form.phone.trim() } : {}),
        }),
      );
      setMessage({ kind: 'ok', text: 'Profile saved.' });
    } catch (err) {
      setMessage(failure(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={save} aria-labelledby="profile-heading" class="panel">
      <h2 id="profile-heading">Profile</h2>
      <p class="muted">
        Signed in as <strong>{user.email}</strong> · member since {when(user.created_at)}
      </p>
      <div class="field">
        <label for="profile-name">Full name</label>
        <input
          id="profile-name"
          value={form.full_name}
          onInput={(e) => setForm({ ...form, full_name: e.currentTarget.value })}
          autocomplete="name"
          required
        />
      </div>
      <div class="field">
        <label for="profile-phone">Phone (E.164, optional)</label>
        <input
          id="profile-phone"
          type="tel"
          value={form.phone}
          placeholder="+4915112345678"
          onInput={(e) => setForm({ ...form, phone: e.currentTarget.value })}
          autocomplete="tel"
        />
      </div>
      <Feedback message={message} />
      <button type="submit" disabled={busy}>
        Save profile
      </button>
    </form>
  );
}

function Preferences() {
  const loaded = useLoad(() => shop.account.preferences(), []);
  const [form, setForm] = useState<AccountPreferences | null>(null);
  const [message, setMessage] = useState<Message>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (loaded.data) setForm(loaded.data);
  }, [loaded.data]);
  if (loaded.error) return <ErrorBox error={loaded.error} retry={loaded.reload} />;
  if (!form) return <Loading what="your preferences" />;

  const save = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setMessage(null);
    try {
      setForm(await shop.account.setPreferences(form));
      setMessage({ kind: 'ok', text: 'Preferences saved.' });
    } catch (err) {
      setMessage(failure(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={save} aria-labelledby="preferences-heading" class="panel">
      <h2 id="preferences-heading">Preferences</h2>
      <div class="row">
        <div class="field">
          <label for="pref-language">Language</label>
          <select id="pref-language" value={form.language} onChange={(e) => setForm({ ...form, language: e.currentTarget.value })}>
            {['en', 'en-GB', 'de', 'de-CH', 'fr', 'nl', 'es', 'it'].concat(
              ['en', 'en-GB', 'de', 'de-CH', 'fr', 'nl', 'es', 'it'].includes(form.language) ? [] : [form.language],
            ).map((l) => (
              <option key={l} value={l}>
                {l}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="pref-currency">Currency</label>
          <select id="pref-currency" value={form.currency} onChange={(e) => setForm({ ...form, currency: e.currentTarget.value })}>
            {['EUR', 'GBP', 'CHF', 'USD'].concat(['EUR', 'GBP', 'CHF', 'USD'].includes(form.currency) ? [] : [form.currency]).map(
              (c) => (
                <option key={c} value={c}>
                  {c}
                </option>
              ),
            )}
          </select>
        </div>
      </div>
      <div class="field">
        <label for="pref-timezone">Time zone</label>
        <input
          id="pref-timezone"
          value={form.timezone}
          onInput={(e) => setForm({ ...form, timezone: e.currentTarget.value })}
          placeholder="Europe/Berlin"
        />
      </div>
      <label class="checkbox">
        <input
          type="checkbox"
          checked={form.marketing_opt_in}
          onChange={(e) => setForm({ ...form, marketing_opt_in: e.currentTarget.checked })}
        />
        Tell me about offers and new products
      </label>
      <Feedback message={message} />
      <button type="submit" disabled={busy}>
        Save preferences
      </button>
    </form>
  );
}

function NotificationSettings() {
  const loaded = useLoad(() => shop.notifications.preferences(), []);
  const [form, setForm] = useState<NotificationPreferences | null>(null);
  const [message, setMessage] = useState<Message>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (loaded.data) setForm(loaded.data);
  }, [loaded.data]);
  if (loaded.error) return <ErrorBox error={loaded.error} retry={loaded.reload} />;
  if (!form) return <Loading what="your notification settings" />;

  const save = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setMessage(null);
    try {
      setForm(await shop.notifications.setPreferences(form));
      setMessage({ kind: 'ok', text: 'Notification settings saved.' });
    } catch (err) {
      setMessage(failure(err));
    } finally {
      setBusy(false);
    }
  };

  const box = (key: keyof NotificationPreferences, label: string) => (
    <label class="checkbox">
      <input type="checkbox" checked={form[key]} onChange={(e) => setForm({ ...form, [key]: e.currentTarget.checked })} />
      {label}
    </label>
  );

  return (
    <form onSubmit={save} aria-labelledby="notifications-heading" class="panel">
      <h2 id="notifications-heading">Notifications</h2>
      <fieldset>
        <legend>Send me order updates by</legend>
        {box('email', 'E-mail')}
        {box('sms', 'SMS')}
        {box('push', 'Push notifications')}
      </fieldset>
      {box('marketing', 'Marketing messages')}
      <p class="muted">Security mail (password resets) is always sent.</p>
      <Feedback message={message} />
      <button type="submit" disabled={busy}>
        Save notification settings
      </button>
    </form>
  );
}

function History() {
  const history = useLoad(() => shop.notifications.history({ limit: 10 }), []);
  return (
    <section aria-labelledby="history-heading" class="panel">
      <h2 id="history-heading">Recent messages</h2>
      {history.error ? (
        <ErrorBox error={history.error} retry={history.reload} />
      ) : !history.data ? (
        <Loading what="your messages" />
      ) : history.data.items.length === 0 ? (
        <p class="muted">No messages yet.</p>
      ) : (
        <ul class="history">
          {history.data.items.map((n) => (
            <li key={n.id}>
              <span>{n.subject}</span>
              <span class="muted">
                {n.channel} · {n.status} · {when(n.created_at)}
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
