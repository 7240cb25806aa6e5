import { useEffect, useRef, useState } from 'preact/hooks';

/**
 * An image that opens larger in a modal `<dialog>` when clicked: Escape, the Close button or a
 * click on the backdrop closes it, and focus returns to the image. `src` is always one the
 * console built (a data: URL of an allowed type), never a URL a server chose.
 */
export function ZoomableImage({ src, alt, class: className }: { src: string; alt: string; class?: string }) {
  const [open, setOpen] = useState(false);
  const dialog = useRef<HTMLDialogElement>(null);

  useEffect(() => {
    const element = dialog.current;
    if (!element) return;
    if (open && !element.open) element.showModal();
    if (!open && element.open) element.close();
  }, [open]);

  return (
    <>
      <button
        type="button"
        class="zoomable"
        onClick={() => setOpen(true)}
        aria-label={`Enlarge image${alt ? `: ${alt}` : ''}`}
        data-testid="zoomable-image"
      >
        <img class={className ?? 'content-image'} src={src} alt={alt} />
      </button>
      <dialog
        ref={dialog}
        class="lightbox"
        aria-label={alt || 'Image'}
        data-testid="lightbox"
        onClose={() => setOpen(false)}
        onClick={(event) => {
          // A click on the backdrop (the dialog itself, outside its content) closes it.
          if (event.target === dialog.current) setOpen(false);
        }}
      >
        <div class="lightbox-body">
          <img class="lightbox-image" src={src} alt={alt} />
          <div class="lightbox-bar">
            {alt ? <p class="muted">{alt}</p> : <span />}
            <button type="button" class="button" onClick={() => setOpen(false)} data-testid="lightbox-close">
              Close
            </button>
          </div>
        </div>
      </dialog>
    </>
  );
}
