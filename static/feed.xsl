<?xml version="1.0" encoding="utf-8"?>
<!-- Shows an Atom feed as a page to a person who opens it in a browser; feed
     readers ignore this and read the same XML. No inline styles or scripts:
     the site's Content-Security-Policy forbids them. -->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:atom="http://www.w3.org/2005/Atom"
    exclude-result-prefixes="atom">
  <xsl:output method="html" encoding="utf-8" doctype-system="about:legacy-compat" indent="yes"/>

  <xsl:template match="/atom:feed">
    <html lang="en">
      <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <meta name="robots" content="noindex"/>
        <title><xsl:value-of select="atom:title"/> · Feed</title>
        <link rel="stylesheet" href="/static/style.css"/>
        <link rel="icon" href="/static/favicon.svg" type="image/svg+xml"/>
      </head>
      <body>
        <header class="site-header">
          <div class="wrap">
            <a class="site-title" href="{atom:link[@rel='alternate']/@href}"><xsl:value-of select="atom:title"/></a>
          </div>
        </header>
        <main id="content" class="wrap">
          <h1>Feed: <xsl:value-of select="atom:title"/></h1>
          <div class="feed-about">
            <p>This is a <strong>web feed</strong>: the latest posts in a form that feed readers understand. To follow the site, copy this page's address into a feed reader (such as NetNewsWire, Feedly, Thunderbird or Miniflux); it will show you each new post as it appears, with no account on this site and no email.</p>
            <p class="meta">Address to copy: <code><xsl:value-of select="atom:link[@rel='self']/@href"/></code></p>
          </div>
          <h2>Latest posts</h2>
          <xsl:choose>
            <xsl:when test="atom:entry">
              <ul class="archive-list feed-entries">
                <xsl:apply-templates select="atom:entry"/>
              </ul>
            </xsl:when>
            <xsl:otherwise>
              <p class="empty">No posts yet.</p>
            </xsl:otherwise>
          </xsl:choose>
          <p><a href="{atom:link[@rel='alternate']/@href}">Visit the site</a></p>
        </main>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="atom:entry">
    <li>
      <time datetime="{atom:published}"><xsl:value-of select="substring(atom:published, 1, 10)"/></time>
      <xsl:text> </xsl:text>
      <a href="{atom:link[@rel='alternate']/@href}"><xsl:value-of select="atom:title"/></a>
    </li>
  </xsl:template>
</xsl:stylesheet>
