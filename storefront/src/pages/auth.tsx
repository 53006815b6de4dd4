import { ProblemError } from '@shop/sdk';
import { useState } from 'preact/hooks';

import { describeError, shop } from '../api';
import { Link, navigate, useLocation, useTitle } from '../router';
import { session, useStore } from '../store';

/** Only same-site paths are followed after sign-in (no open redirect). */
function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

function Field(props: {
  id: string;
  label: string;
  type?: string;
  value: string;
  onInput: (value: string) => void;
  autocomplete?: string;
  error?: string | undefined;
  hint?: string;
  minLength?: number;
}) {
  const describedBy = [props.error ? `${props.id}-error` : '', props.hint ? `${props.id}-hint` : '']
    .filter(Boolean)
    .join(' ');
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <input
        id={props.id}
        type={props.type ?? 'text'}
        value={props.value}
        onInput={(e) => props.onInput(e.currentTarget.value)}
        autocomplete={props.autocomplete}
        required
        minLength={props.minLength}
        aria-invalid={props.error ? 'true' : undefined}
        aria-describedby={describedBy || undefined}
      />
      {props.hint && (
        <span id={`${props.id}-hint`} class="hint">
          {props.hint}
        </span>
      )}
      {props.error && (
        <span id={`${props.id}-error`} class="field-error">
          {props.error}
        </span>
      )}
    </div>
  );
}

export function SignInPage() {
  useTitle('Sign in');
  const { query } = useLocation();
  const { expired } = useStore(session);
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const reset = query.get('reset') === '1';
  const registered = query.get('registered') === '1';

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await shop.auth.login(email.trim(), password);
      navigate(safeNext(query.get('next')), { replace: true });
    } catch (err) {
      setError(
        err instanceof ProblemError && err.status === 401 ? 'Wrong e-mail address or password.' : describeError(err),
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="content auth">
      <h1>Sign in</h1>
      {expired && (
        <p role="status" class="notice">
          Your session has ended. Please sign in again.
        </p>
      )}
      {registered && (
        <p role="status" class="notice ok">
          Your account is ready. Sign in to start shopping.
        </p>
      )}
      {reset && (
        <p role="status" class="notice ok">
          Your password was changed. Sign in with the new one.
        </p>
      )}
      <form onSubmit={submit} aria-label="Sign in">
        <Field id="signin-email" label="E-mail" type="email" value={email} onInput={setEmail} autocomplete="username" />
        <Field
          id="signin-password"
          label="Password"
          type="password"
          value={password}
          onInput={setPassword}
          autocomplete="current-password"
        />
        {error && (
          <p role="alert" class="notice error">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          Sign in
        </button>
      </form>
      <p>
        <Link href="/forgot-password">Forgot your password?</Link> · New here?{' '}
        <Link href={`/signup${query.get('next') ? `?next=${encodeURIComponent(query.get('next') ?? '')}` : ''}`}>
          Create an account
        </Link>
      </p>
    </section>
  );
}

export function SignUpPage() {
  useTitle('Sign up');
  const { query } = useLocation();
  const [fullName, setFullName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setErrors({});
    try {
      await shop.auth.register({ email: email.trim(), password, full_name: fullName.trim() });
      // Signed in straight away: the shopper came to buy.
      await shop.auth.login(email.trim(), password);
      navigate(safeNext(query.get('next')), { replace: true });
    } catch (err) {
      if (err instanceof ProblemError && err.status === 409) {
        setError('An account with this e-mail address exists already. Sign in instead.');
      } else if (err instanceof ProblemError && err.errors.length > 0) {
        setErrors(Object.fromEntries(err.errors.map((e) => [e.field, e.message])));
        setError('Please correct the highlighted fields.');
      } else {
        setError(describeError(err));
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="content auth">
      <h1>Create your account</h1>
      <form onSubmit={submit} aria-label="Sign up">
        <Field
          id="signup-name"
          label="Full name"
          value={fullName}
          onInput={setFullName}
          autocomplete="name"
          error={errors.full_name}
        />
        <Field
          id="signup-email"
          label="E-mail"
          type="email"
          value={email}
          onInput={setEmail}
          autocomplete="email"
          error={errors.email}
        />
        <Field
          id="signup-password"
          label="Password"
          type="password"
          value={password}
          onInput={setPassword}
          autocomplete="new-password"
          hint="12 to 128 characters."
          minLength={12}
          error={errors.password}
        />
        {error && (
          <p role="alert" class="notice error">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          Sign up
        </button>
      </form>
      <p>
        Have an account? <Link href="/signin">Sign in instead</Link>
      </p>
    </section>
  );
}

export function ForgotPasswordPage() {
  useTitle('Reset your password');
  const [email, setEmail] = useState('');
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await shop.auth.requestPasswordReset(email.trim());
      setSent(true);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="content auth">
      <h1>Reset your password</h1>
      {sent ? (
        <p role="status" class="notice ok">
          If an account exists for {email.trim()}, we have sent it a link to choose a new password. The link is valid
          for 30 minutes.
        </p>
      ) : (
        <form onSubmit={submit} aria-label="Request a password reset">
          <p>Enter your e-mail address and we will send you a link to choose a new password.</p>
          <Field id="forgot-email" label="E-mail" type="email" value={email} onInput={setEmail} autocomplete="email" />
          {error && (
            <p role="alert" class="notice error">
              {error}
            </p>
          )}
          <button type="submit" class="primary" disabled={busy}>
            Send reset link
          </button>
        </form>
      )}
      <p>
        <Link href="/signin">Back to sign in</Link>
      </p>
    </section>
  );
}

/** The page the reset mail links to: `/reset-password?token=...`. */
export function ResetPasswordPage() {
  useTitle('Choose a new password');
  const { query } = useLocation();
  const [token, setToken] = useState(query.get('token') ?? '');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await shop.auth.confirmPasswordReset(token.trim(), password);
      navigate('/signin?reset=1', { replace: true });
    } catch (err) {
      setError(
        err instanceof ProblemError && err.status === 400
          ? 'This reset link is invalid, used or expired. Ask for a new one.'
          : describeError(err),
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="content auth">
      <h1>Choose a new password</h1>
      <form onSubmit={submit} aria-label="Choose a new password">
        {!query.get('token') && (
          <Field id="reset-token" label="Reset code from the e-mail" value={token} onInput={setToken} />
        )}
        <Field
          id="reset-password"
          label="New password"
          type="password"
          value={password}
          onInput={setPassword}
          autocomplete="new-password"
          hint="12 to 128 characters. Signs you out everywhere."
          minLength={12}
        />
        {error && (
          <p role="alert" class="notice error">
            {error} <Link href="/forgot-password">Request a new link</Link>
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          Set new password
        </button>
      </form>
    </section>
  );
}
