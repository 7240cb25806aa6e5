import { useEffect, useMemo } from 'preact/hooks';
import { base64ToBytes, downloadName } from '../lib/media';
import { formatBytes } from '../lib/format';

/**
 * A link that saves a blob the server sent. The object URL is made here, from bytes, with a
 * neutral type: the browser downloads it and never renders it in the console's origin.
 */
export function DownloadLink({
  base64,
  uri,
  mimeType,
}: {
  base64: string;
  uri: string;
  mimeType: string | null;
}) {
  const bytes = useMemo(() => base64ToBytes(base64), [base64]);
  const url = useMemo(
    () => (bytes ? URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' })) : null),
    [bytes],
  );
  useEffect(() => () => (url ? URL.revokeObjectURL(url) : undefined), [url]);

  if (!bytes || !url) return <p class="muted">The server sent data that is not valid base64.</p>;
  return (
    <p class="download">
      <a class="button" href={url} download={downloadName(uri)} data-testid="download">
        Download {downloadName(uri)}
      </a>{' '}
      <span class="muted">
        {mimeType ?? 'unknown type'} · {formatBytes(bytes.length)}
      </span>
    </p>
  );
}
