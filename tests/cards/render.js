// Renders Adaptive Cards with Microsoft's renderer (npm `adaptivecards`) as Teams would, and reports what
// a channel member would notice: what the renderer refused (parse and validation events), anything that
// runs past the card's edge or is clipped, and bidirectional controls in the text shown. The page that loads this script (built by tests/cards/harness.py) provides:
//   <script id="host-config" type="application/json">  the Teams host config
//   <script id="cards" type="application/json">        [{"name": ..., "card": <AdaptiveCard JSON>}, ...]
//   <div id="stage" data-width="500">                  where the cards are laid out, each this wide
//   <pre id="out">                                     receives the report as JSON (read with --dump-dom)
(() => {
  const out = document.getElementById('out');
  const report = { renderer: null, cards: [], fatal: null };
  try {
    const AC = window.AdaptiveCards;
    if (!AC) throw new Error('the adaptivecards script did not load');
    if (typeof window.markdownit !== 'function') throw new Error('the markdown-it script did not load');
    report.renderer = 'adaptivecards';
    // Teams renders TextBlock Markdown (links, bold) with its own processor; markdown-it is what the
    // renderer's documentation plugs in for that.
    const markdown = window.markdownit({ linkify: false, html: false });
    AC.AdaptiveCard.onProcessMarkdown = (text, result) => {
      result.outputHtml = markdown.render(text);
      result.didProcess = true;
    };
    const hostConfig = new AC.HostConfig(JSON.parse(document.getElementById('host-config').textContent));
    const cards = JSON.parse(document.getElementById('cards').textContent);
    const stage = document.getElementById('stage');
    const width = Number(stage.dataset.width);
    const eventName = (value) => AC.ValidationEvent[value] ?? String(value);
    const phaseName = (value) => AC.ValidationPhase[value] ?? String(value);

    for (const { name, card: json } of cards) {
      const entry = { name, parse: [], validation: [], overflow: [], clipped: [], bidi: [], width: 0, height: 0 };
      report.cards.push(entry);
      const frame = document.createElement('div');
      frame.className = 'card-frame';
      frame.style.width = `${width}px`;
      frame.dataset.name = name;
      stage.appendChild(frame);

      const card = new AC.AdaptiveCard();
      card.hostConfig = hostConfig;
      const context = new AC.SerializationContext();
      card.parse(json, context);
      for (let i = 0; i < context.eventCount; i++) {
        const event = context.getEventAt(i);
        entry.parse.push({ phase: phaseName(event.phase), event: eventName(event.event), message: event.message });
      }
      for (const event of card.validateProperties().validationEvents) {
        entry.validation.push({ event: eventName(event.event), message: event.message });
      }
      const rendered = card.render();
      if (!rendered) {
        entry.validation.push({ event: 'NotRendered', message: 'card.render() returned nothing' });
        continue;
      }
      frame.appendChild(rendered);

      // Layout is read after the card is in the document: anything right of the card's right edge (or
      // left of its left edge) is cut off in Teams; an element whose content is wider than its own box
      // with overflow hidden shows the reader a truncated name.
      const edge = rendered.getBoundingClientRect();
      entry.width = edge.width;
      entry.height = edge.height;
      const describe = (element) => {
        const text = (element.textContent || '').trim().replace(/\s+/g, ' ');
        return `${element.tagName.toLowerCase()}.${element.className || '-'} "${text.slice(0, 60)}"`;
      };
      for (const element of rendered.querySelectorAll('*')) {
        const box = element.getBoundingClientRect();
        if (box.width === 0 && box.height === 0) continue;
        if (box.right > edge.right + 1 || box.left < edge.left - 1) {
          entry.overflow.push(`${describe(element)} spans ${Math.round(box.left - edge.left)}..` +
            `${Math.round(box.right - edge.left)} px of a ${Math.round(edge.width)} px card`);
        }
        const style = getComputedStyle(element);
        if (style.overflowX !== 'visible' && element.scrollWidth > element.clientWidth + 1 && element.clientWidth > 0) {
          entry.clipped.push(`${describe(element)} holds ${element.scrollWidth} px in ${element.clientWidth} px`);
        }
      }
      // A bidirectional control in estate text makes the rest of its line read backwards (U+202E turns
      // "kv-\u202Egpj.exe" into "kv-exe.jpg"): none may reach what the reader sees.
      const text = rendered.textContent || '';
      for (const match of text.matchAll(/[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/gu)) {
        const at = match.index ?? 0;
        const code = match[0].codePointAt(0).toString(16).toUpperCase().padStart(4, '0');
        entry.bidi.push(`U+${code} in "${text.slice(Math.max(0, at - 30), at + 30)}"`);
      }
      entry.bidi = entry.bidi.slice(0, 20);
      entry.overflow = entry.overflow.slice(0, 20);
      entry.clipped = entry.clipped.slice(0, 20);
    }
  } catch (error) {
    report.fatal = String(error && error.stack ? error.stack : error);
  }
  out.textContent = JSON.stringify(report);
})();
