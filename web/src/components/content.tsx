import type { ContentBlock } from '../types';
import { audioDataUrl, imageDataUrl } from '../lib/media';
import { DownloadLink } from './download';
import { ZoomableImage } from './lightbox';
import { isMarkdown, Markdown } from './markdown';

function str(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function Json({ value }: { value: unknown }) {
  let text: string;
  try {
    text = JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    text = String(value);
  }
  return <pre class="code-block">{text}</pre>;
}

/** An embedded resource's contents: text as text, allowed images shown, other blobs downloadable. */
export function ResourceContents({
  uri,
  mimeType,
  text,
  blob,
}: {
  uri: string;
  mimeType: string | null;
  text?: unknown;
  blob?: unknown;
}) {
  const image = typeof blob === 'string' ? imageDataUrl(blob, mimeType) : null;
  return (
    <div class="resource-contents">
      <p class="resource-uri">
        <span class="mono">{uri}</span>
        {mimeType ? <span class="muted"> · {mimeType}</span> : null}
      </p>
      {typeof text === 'string' ? (
        isMarkdown(mimeType, uri) ? (
          <Markdown text={text} testid="markdown" />
        ) : (
          <pre class="text-block">{text}</pre>
        )
      ) : null}
      {image ? <ZoomableImage src={image} alt={`Image ${uri}`} /> : null}
      {typeof blob === 'string' && !image ? (
        <DownloadLink base64={blob} uri={uri} mimeType={mimeType} />
      ) : null}
    </div>
  );
}

export function ContentBlockView({ block }: { block: ContentBlock }) {
  switch (block.type) {
    case 'text':
      return <pre class="text-block">{str(block.text) ?? ''}</pre>;
    case 'image': {
      const src = imageDataUrl(block.data, block.mimeType);
      return src ? (
        <ZoomableImage src={src} alt={`Image from the server (${String(block.mimeType)})`} />
      ) : (
        <p class="muted">
          An image of type {String(block.mimeType)} (not shown: only PNG, JPEG, GIF and WebP are).
        </p>
      );
    }
    case 'audio': {
      const src = audioDataUrl(block.data, block.mimeType);
      return src ? (
        <audio
          class="content-audio"
          controls
          src={src}
          aria-label={`Audio from the server (${String(block.mimeType)})`}
        />
      ) : (
        <p class="muted">Audio of type {String(block.mimeType)} that cannot be played here.</p>
      );
    }
    case 'resource_link':
      return (
        <div class="resource-link">
          <p>
            <span class="chip">Link</span>{' '}
            <strong>{str(block.title) ?? str(block.name) ?? 'Resource'}</strong>
          </p>
          {/* Shown as text on purpose: a server chooses this URI. */}
          <p class="mono break">{str(block.uri) ?? ''}</p>
          {str(block.description) ? <p class="muted">{str(block.description)}</p> : null}
          {str(block.mimeType) ? <p class="muted">{str(block.mimeType)}</p> : null}
        </div>
      );
    case 'resource': {
      const resource = (
        typeof block.resource === 'object' && block.resource !== null ? block.resource : {}
      ) as Record<string, unknown>;
      return (
        <div class="embedded-resource">
          <p>
            <span class="chip">Embedded resource</span>
          </p>
          <ResourceContents
            uri={str(resource.uri) ?? ''}
            mimeType={str(resource.mimeType)}
            text={resource.text}
            blob={resource.blob}
          />
        </div>
      );
    }
    default:
      return (
        <div>
          <p class="muted">Content of type {block.type}:</p>
          <Json value={block} />
        </div>
      );
  }
}

export function ContentList({ blocks }: { blocks: ContentBlock[] }) {
  return (
    <div class="content-list">
      {blocks.map((block, index) => (
        <ContentBlockView key={index} block={block} />
      ))}
    </div>
  );
}

export { Json };
