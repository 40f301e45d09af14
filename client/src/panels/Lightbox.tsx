// Full-size view of an output or preview image; Escape or a click closes it.
import { useUi } from "../store/ui.ts";

export default function Lightbox({ src, full, caption }: { src: string; full?: string; caption?: string }) {
  const close = useUi((s) => s.closeLightbox);
  return (
    <div className="lightbox" data-testid="lightbox" onClick={close}>
      <img
        src={src}
        alt={caption ?? ""}
        onClick={(e) => e.stopPropagation()}
        onLoad={(e) => { const im = e.currentTarget; im.classList.toggle("pixelated", im.naturalWidth > 0 && im.naturalWidth < 400); }}
      />
      <div className="lightbox-bar" onClick={(e) => e.stopPropagation()}>
        <span>{caption}</span>
        {full && <a href={full} target="_blank" rel="noreferrer" data-testid="open-full">Open full image ↗</a>}
        <button onClick={close}>Close</button>
      </div>
    </div>
  );
}
