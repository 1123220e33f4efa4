#!/usr/bin/env bash
# Re-create book/_vendor/ (the JavaScript the offline book serves itself) from npm.
#
# Why: by default a Jupyter Book page loads require.js + the ipywidgets embedder from public CDNs and MathJax
# from jsDelivr. Offline the widgets stay empty and the maths stays raw TeX. The book therefore ships:
#   widgets/  @jupyter-widgets/html-manager  dist/embed.js (the standalone ipywidgets 8 embedder, no require.js)
#             + the Font Awesome woff2/woff files it references (resolved next to embed.js at run time).
#   mathjax/  mathjax (v3)  es5/tex-chtml.js + the CHTML woff-v2 fonts + the TeX extensions `autoload` may fetch.
# The folder is NOT named _static: Jupyter Book adds every .js under _static to every page (each widget drew twice).
#
# Usage (needs node/npm and a registry, run from anywhere):   bash data_scripts/vendor_js.sh
# Refresh: change the versions below, run, rebuild the book (`make book`), commit book/_vendor/.
set -euo pipefail

HTML_MANAGER_VERSION=1.0.15   # the ipywidgets 8 line (ipywidgets 8.1.x saves widget state this embedder reads)
MATHJAX_VERSION=3.2.2         # newest mathjax@3; Sphinx's mathjax extension configures MathJax 3

repo_top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
vendor="$repo_top/book/_vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
npm pack --silent "@jupyter-widgets/html-manager@$HTML_MANAGER_VERSION" "mathjax@$MATHJAX_VERSION" >/dev/null
mkdir hm mj
tar xzf jupyter-widgets-html-manager-"$HTML_MANAGER_VERSION".tgz -C hm
tar xzf mathjax-"$MATHJAX_VERSION".tgz -C mj

rm -rf "$vendor/widgets" "$vendor/mathjax"   # book/_vendor/mathjax2_hub_shim.js is project code: kept
mkdir -p "$vendor/widgets" "$vendor/mathjax"

# --- ipywidgets embedder --------------------------------------------------------------------------------------
# The Font Awesome @font-face rules list eot/woff2/woff/ttf/svg; browsers fetch the first format they support,
# which is woff2 for every current browser (woff as a fallback), so the eot/ttf/svg copies (2.5 MB) are left out.
cp hm/package/dist/embed.js hm/package/dist/embed.js.LICENSE.txt "$vendor/widgets/"
cp hm/package/dist/*.woff2 hm/package/dist/*.woff "$vendor/widgets/"
# The npm tarball carries no LICENSE file; its package.json says BSD-3-Clause (the ipywidgets repository's
# licence). The ipywidgets Python package ships the same text: take it from the project's virtualenv.
python_bin="${PYTHON:-$repo_top/.venv/bin/python}"
ipywidgets_license="$("$python_bin" - <<'EOF'
from importlib.metadata import distribution
dist = distribution("ipywidgets")
print(next(dist.locate_file(f) for f in dist.files if f.name == "LICENSE"))
EOF
)"
cp "$ipywidgets_license" "$vendor/widgets/LICENSE"

# --- MathJax 3, TeX input -> CHTML output only ----------------------------------------------------------------
es5=mj/package/es5
cp mj/package/LICENSE "$vendor/mathjax/LICENSE"
cp "$es5/tex-chtml.js" "$vendor/mathjax/"
mkdir -p "$vendor/mathjax/output/chtml/fonts" "$vendor/mathjax/input/tex"
cp -r "$es5/output/chtml/fonts/woff-v2" "$vendor/mathjax/output/chtml/fonts/"
cp -r "$es5/input/tex/extensions" "$vendor/mathjax/input/tex/"
rm "$vendor/mathjax/input/tex/extensions/all-packages.js"   # 212 kB bundle of all the single extensions

# --- notices --------------------------------------------------------------------------------------------------
cat >"$vendor/widgets/NOTICE.md" <<EOF
# Vendored: @jupyter-widgets/html-manager $HTML_MANAGER_VERSION

- What: \`dist/embed.js\` (standalone ipywidgets embedder, bundles jQuery/jQuery UI: see \`embed.js.LICENSE.txt\`)
  and the Font Awesome \`.woff2\`/\`.woff\` files it references (same file names as in \`dist/\`).
- From: npm package \`@jupyter-widgets/html-manager@$HTML_MANAGER_VERSION\` (\`npm pack\`). Licence: BSD-3-Clause,
  \`LICENSE\` (copied from the ipywidgets Python package, the same repository, since the npm tarball has none).
- Why vendored: the built book must render saved widget state offline; myst-nb's default loads require.js and the
  embedder from CDNs. \`_config.yml\` points \`nb_ipywidgets_js\` at \`widgets/embed.js\`, preceded by the
  project's own \`../mathjax2_hub_shim.js\` (embed.js typesets labels with the MathJax 2 API; the book runs MathJax 3).
- Refresh: \`bash data_scripts/vendor_js.sh\` (edit the versions at its top), then \`make book\`.
EOF
cat >"$vendor/mathjax/NOTICE.md" <<EOF
# Vendored: MathJax $MATHJAX_VERSION (TeX input, CommonHTML output)

- What: \`es5/tex-chtml.js\`, the CHTML fonts \`es5/output/chtml/fonts/woff-v2/\` and the TeX extensions
  \`es5/input/tex/extensions/\` that \`autoload\` fetches on demand (paths kept relative to \`es5/\`).
  Not included: MathML/AsciiMath input, SVG output, the speech/explorer accessibility extensions (\`sre\`).
- From: npm package \`mathjax@$MATHJAX_VERSION\` (\`npm pack\`). Licence: Apache-2.0, \`LICENSE\`.
- Why vendored: Sphinx loads MathJax from jsDelivr by default; offline the maths would stay raw TeX.
  \`_config.yml\` sets \`mathjax_path: mathjax/tex-chtml.js\` (relative to \`_static/\`).
- Refresh: \`bash data_scripts/vendor_js.sh\` (edit the versions at its top), then \`make book\`.
EOF

du -sch "$vendor/widgets" "$vendor/mathjax"
